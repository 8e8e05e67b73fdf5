"""Bad input against a real server on a real port: always a 4xx in the JSON error shape,
never a 500, and nothing stored."""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import LiveServer

pytestmark = pytest.mark.model
SURROGATE = "\\ud800"  # a lone surrogate, as a JSON escape: json.dumps cannot produce it


def raw(server: LiveServer, method: str, path: str, body: str) -> httpx.Response:
    """Send a JSON text as written (lone surrogates and NaN need hand-made JSON)."""
    return httpx.request(method, server.url + path, content=body.encode("utf-8"),
                         headers={"content-type": "application/json"}, timeout=60)


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    error = r.json()["error"]
    assert set(error) == {"code", "message", "detail"} and error["message"]
    if code:
        assert error["code"] == code, error
    return error


@pytest.fixture(scope="module")
def scratch(live_server: LiveServer) -> Iterator[str]:
    """A collection of this module's own, so the shared sample collection stays as it is."""
    url = f"{live_server.url}/v1/collections/badinput"
    assert httpx.put(url).status_code in (200, 201)
    yield "badinput"
    httpx.delete(url, params={"force": "true"})


@pytest.mark.parametrize(("path", "template"), [
    ("/v1/search", '{"query": "%s"}'),
    ("/v1/search", '{"query": "退款", "category": "%s"}'),
    ("/v1/search", '{"query": "退款", "tags": ["%s"]}'),
    ("/v1/search", '{"query": "退款", "collection": "%s"}'),
    ("/v1/search/batch", '{"queries": ["退款", "%s"]}'),
    ("/v1/similarity", '{"source": "%s", "candidates": ["退款"]}'),
    ("/v1/similarity", '{"source": "退款", "candidates": ["%s"]}'),
    ("/v1/embeddings", '{"input": "%s"}'),
    ("/api/predict", '{"data": ["%s", ""]}'),
])
def test_lone_surrogates_are_refused_in_every_field(live_server: LiveServer, path: str,
                                                    template: str) -> None:
    error = assert_error(raw(live_server, "POST", path, template % SURROGATE), 422)
    assert "surrogate" in error["message"]


@pytest.mark.parametrize("field", ['"question": "%s"', '"question": "问", "answer": "%s"',
                                   '"question": "问", "similar_questions": ["%s"]',
                                   '"question": "问", "metadata": {"%s": 1}',
                                   '"question": "问", "metadata": {"k": "%s"}'])
def test_lone_surrogates_are_refused_in_stored_fields(live_server: LiveServer, scratch: str,
                                                      field: str) -> None:
    path = f"/v1/collections/{scratch}/documents/s1"
    assert_error(raw(live_server, "PUT", path, "{" + field % SURROGATE + "}"), 422)
    assert httpx.get(live_server.url + path).status_code == 404  # nothing stored


def test_too_many_tags_in_a_search_filter(live_server: LiveServer) -> None:
    r = httpx.post(live_server.url + "/v1/search", timeout=60,
                   json={"query": "退款", "tags": [f"t{i}" for i in range(1000)]})
    assert "tags" in assert_error(r, 422)["message"]
    ok = httpx.post(live_server.url + "/v1/search", json={"query": "退款", "tags": ["t"] * 64})
    assert ok.status_code == 200


@pytest.mark.parametrize(("entry", "field", "limit"), [
    ({"question": "问" * 501}, "question", 500),
    ({"question": "问", "similar_questions": [f"说法{i}" for i in range(101)]}, "similar_questions", 100),
    ({"question": "问", "similar_questions": ["长" * 501]}, "similar_questions[0]", 500),
    ({"question": "问", "answer": "答" * 20_001}, "answer", 20_000),
    ({"question": "问", "tags": [f"t{i}" for i in range(65)]}, "tags", 64),
])
def test_oversized_entries_get_413_with_the_limit(live_server: LiveServer, scratch: str,
                                                  entry: dict, field: str, limit: int) -> None:
    r = httpx.put(f"{live_server.url}/v1/collections/{scratch}/documents/big", json=entry,
                  timeout=60)
    error = assert_error(r, 413, "input_too_large")
    assert error["detail"] == {"field": field, "limit": limit}


@pytest.mark.parametrize("body", ['{"question": "\\u200b\\u200b"}', '{"question": "\\u0001\\u0002"}',
                                  '{"question": "问", "metadata": {"x": NaN}}',
                                  '{"question": "问", "metadata": {"x": [1, Infinity]}}'])
def test_empty_questions_and_non_finite_numbers_are_refused(live_server: LiveServer,
                                                            scratch: str, body: str) -> None:
    path = f"/v1/collections/{scratch}/documents/odd"
    assert_error(raw(live_server, "PUT", path, body), 422)
    assert httpx.get(live_server.url + path).status_code == 404


@pytest.mark.parametrize("query", ["\\u001d", "\\u200b \\u3000", "\\u0001"])
def test_a_test_question_that_is_only_blank_or_control_characters_is_refused(
        live_server: LiveServer, scratch: str, query: str) -> None:
    """Refused with 422, and the set stays readable (it once stored an empty question,
    after which reading the set answered 500)."""
    path = f"/v1/collections/{scratch}/testset"
    body = '{"questions": [{"query": "退款"}, {"query": "%s"}]}' % query
    error = assert_error(raw(live_server, "POST", path, body), 422)
    assert "questions[1]" in error["message"]
    listed = httpx.get(live_server.url + path)
    assert listed.status_code == 200 and listed.json()["count"] == 0  # nothing was added


def test_ids_with_slashes_can_be_written_read_and_deleted(live_server: LiveServer, scratch: str) -> None:
    url = f"{live_server.url}/v1/collections/{scratch}/documents/faq/2024/01"
    put = httpx.put(url, json={"question": "发票抬头写错了能改吗"}, timeout=60)
    assert put.status_code == 200 and put.json()["external_id"] == "faq/2024/01"
    assert httpx.get(url).json()["question"] == "发票抬头写错了能改吗"
    assert httpx.delete(url).status_code == 204 and httpx.get(url).status_code == 404


def http_over_socket(server: LiveServer, method: str, path: str, body: bytes = b"") -> tuple[int, str, bytes]:
    """(status, content type, body) of a request too long for httpx to build."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(server.url)
    head = (f"{method} {path} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    header, _, payload = answer.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), fields.get("content-type", ""), payload


def test_a_very_long_id_gets_the_json_shape(live_server: LiveServer, scratch: str) -> None:
    path = f"/v1/collections/{scratch}/documents/{'x' * 100_000}"
    for method, payload in (("PUT", '{"question": "问"}'.encode()), ("GET", b""), ("DELETE", b"")):
        status, kind, body = http_over_socket(live_server, method, path, payload)
        assert (status, kind) == (422, "application/json"), body[:200]
        assert "200 characters" in json.loads(body)["error"]["message"]


def test_collections_are_created_explicitly(live_server: LiveServer) -> None:
    base = live_server.url + "/v1/collections"
    typo = httpx.put(f"{base}/defualt/documents/x", json={"question": "问"}, timeout=60)
    assert "defualt" in assert_error(typo, 404, "not_found")["message"]
    assert "defualt" not in [c["name"] for c in httpx.get(base).json()]
    assert_error(httpx.put(f"{base}/bad%20name"), 422)
    assert_error(httpx.put(f"{base}/{'n' * 65}"), 422)
    created = httpx.put(f"{base}/made-here")
    assert created.status_code == 201 and created.json()["documents"] == 0
    assert httpx.put(f"{base}/made-here").status_code == 200  # idempotent
    doc = httpx.put(f"{base}/made-here/documents/d1", json={"question": "能开电子发票吗"}, timeout=60)
    assert doc.status_code == 200
    refused = httpx.delete(f"{base}/made-here")
    assert assert_error(refused, 409, "conflict")["detail"] == {"collection": "made-here", "entries": 1}
    assert httpx.delete(f"{base}/made-here", params={"force": "true"}).status_code == 204
    assert "made-here" not in [c["name"] for c in httpx.get(base).json()]
    assert_error(httpx.delete(f"{base}/made-here"), 404)
    search = httpx.post(live_server.url + "/v1/search", json={"query": "发票", "collection": "made-here"})
    assert_error(search, 404)


def test_schema_integers_and_documented_content_types(live_server: LiveServer) -> None:
    r = httpx.post(live_server.url + "/v1/search", json={"query": "退款", "top_k": 3.0}, timeout=60)
    assert r.status_code == 200 and len(r.json()["hits"]) == 3
    assert_error(httpx.post(live_server.url + "/v1/search", json={"query": "退款", "top_k": 3.5}), 422)
    assert_error(httpx.post(live_server.url + "/v1/search", json={"query": "退款", "top_k": True}), 422)
    spec = httpx.get(live_server.url + "/openapi.json").json()
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert httpx.get(live_server.url + "/metrics").headers["content-type"].startswith("text/plain")


def test_options_and_405_name_every_allowed_method(live_server: LiveServer) -> None:
    path = "/v1/collections/default/documents/x"
    options = httpx.options(live_server.url + path)
    assert options.status_code == 204
    assert {m.strip() for m in options.headers["allow"].split(",")} >= {"GET", "PUT", "DELETE"}
    wrong = httpx.patch(live_server.url + path, json={})
    assert_error(wrong, 405)
    assert {m.strip() for m in wrong.headers["allow"].split(",")} >= {"GET", "PUT", "DELETE"}


def test_docs_are_served_without_a_network(live_server: LiveServer) -> None:
    page = httpx.get(live_server.url + "/docs").text
    assets = [part.split('"')[0] for part in page.split('src="')[1:] + page.split('href="')[1:]]
    assert assets and all(a.startswith("/") for a in assets), assets  # nothing from a CDN
    for asset in assets:
        assert httpx.get(live_server.url + asset).status_code == 200, asset
    assert "cdn" not in httpx.get(live_server.url + "/redoc").text.lower()


def test_search_hits_carry_the_ranking_score(live_server: LiveServer) -> None:
    hits = httpx.post(live_server.url + "/v1/search", json={"query": "退款多久能到账啊", "top_k": 5},
                      timeout=60).json()["hits"]
    ranks = [h["rank_score"] for h in hits]
    assert ranks == sorted(ranks, reverse=True)  # the order the hits come in
    assert all(isinstance(h["score"], float) for h in hits)


def test_json_without_a_body_or_with_bad_json(live_server: LiveServer) -> None:
    assert_error(raw(live_server, "POST", "/v1/search", "{"), 422, "invalid_json")
    assert_error(raw(live_server, "POST", "/v1/search", json.dumps({"query": "x", "extra": 1})), 422)
