"""End-to-end: every route of a real server on a real port, through httpx, once per
storage backend (FAISS + SQLite, Milvus Lite + SQLite, FAISS + PostgreSQL)."""
from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.api.conftest import BACKENDS, LiveServer, Servers
from tests.conftest import REPO

pytestmark = pytest.mark.model


@pytest.fixture(scope="module", params=BACKENDS)
def live_server(request: pytest.FixtureRequest, servers: Servers) -> Iterator[LiveServer]:
    """The same tests against each backend in turn (one server at a time)."""
    yield servers.get(request.param)
    if request.param != "faiss-sqlite":  # the default one also serves other modules
        servers.stop(request.param)

QUERIES = [json.loads(x)
           for x in (REPO / "data" / "faq_sample_queries.jsonl").read_text("utf-8").splitlines()]


def post(server: LiveServer, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=60)


def test_search_returns_the_right_entry_with_score_and_band(live_server: LiveServer) -> None:
    # A colloquial question that no sample entry contains word for word.
    r = post(live_server, "/v1/search", {"query": "退款多久能到账啊", "top_k": 3})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"query", "normalized_query", "hits", "thresholds", "model", "build_id",
                         "took_ms", "search_id"}
    # logged on every backend (PostgreSQL included): feedback on it is accepted
    assert post(live_server, "/v1/feedback", {"search_id": body["search_id"],
                                              "helpful": True}).status_code == 204
    top = body["hits"][0]
    assert top["external_id"] == "refund-001"
    assert top["band"] in ("high", "medium") and top["band_label"] in ("高度相关", "中等相关")
    assert top["matched_kind"] in ("question", "similar") and top["matched_text"]
    assert top["ambiguous"] is False  # no other entry reaches `high` for this question
    assert len(body["hits"]) == 3
    assert set(body["thresholds"]) == {"high", "medium", "low", "margin"}


def test_held_out_colloquial_questions_mostly_find_their_entry(live_server: LiveServer) -> None:
    answerable = [q for q in QUERIES if q["expected_id"]]
    r = post(live_server, "/v1/search/batch", {"queries": [q["query"] for q in answerable][:64], "top_k": 5})
    assert r.status_code == 200
    results = r.json()["results"]
    top1 = sum(res["hits"][0]["external_id"] == q["expected_id"] for res, q in zip(results, answerable))
    assert top1 / len(results) >= 0.5, top1


def test_filters_are_exact_and_still_fill_top_k(live_server: LiveServer) -> None:
    r = post(live_server, "/v1/search", {"query": "密码忘了", "top_k": 5, "category": "物流"})
    hits = r.json()["hits"]
    assert len(hits) == 5 and {h["category"] for h in hits} == {"物流"}
    r = post(live_server, "/v1/search", {"query": "退款", "top_k": 3, "tags": ["防诈骗"]})
    assert all("防诈骗" in h["tags"] for h in r.json()["hits"]) and r.json()["hits"]


def test_min_band_and_min_score_drop_weak_hits(live_server: LiveServer) -> None:
    r = post(live_server, "/v1/search", {"query": "今天天气怎么样", "top_k": 5, "min_score": 0.99})
    assert r.json()["hits"] == []
    r = post(live_server, "/v1/search", {"query": "密码忘了", "top_k": 10, "min_band": "medium"})
    assert all(h["band"] in ("high", "medium") for h in r.json()["hits"])


def test_similarity_keeps_input_order(live_server: LiveServer) -> None:
    r = post(live_server, "/v1/similarity",
             {"source": "退款多久到账", "candidates": ["今天天气不错", "退款几天能到", "钱什么时候退回来"]})
    assert r.status_code == 200
    scores = r.json()["scores"]
    assert [s["index"] for s in scores] == [0, 1, 2]
    assert scores[1]["score"] > scores[0]["score"] and scores[2]["score"] > scores[0]["score"]


def test_openai_client_predict_and_cli_give_the_same_vector(live_server: LiveServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=live_server.url + "/v1", api_key="unused")
    text = "会员到期了怎么续费"
    via_openai = np.array(client.embeddings.create(model="multilingual-e5-small-q4",
                                                   input=[text]).data[0].embedding)
    via_predict = np.array(post(live_server, "/api/predict", {"data": [text, "", False]}).json()["data"])
    via_cli = np.array(json.loads(live_server.cli("embed", text).stdout.splitlines()[0]))
    assert via_openai.shape == (384,)
    assert float(via_openai @ via_predict) > 0.9999 and float(via_openai @ via_cli) > 0.999


def test_embeddings_base64_usage_and_dimensions(live_server: LiveServer) -> None:
    r = post(live_server, "/v1/embeddings", {"input": ["你好", "再见"], "encoding_format": "base64",
                                             "input_type": "passage"})
    body = r.json()
    vector = np.frombuffer(base64.b64decode(body["data"][1]["embedding"]), dtype="<f4")
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-4
    assert body["usage"]["total_tokens"] > 0 and body["data"][0]["object"] == "embedding"
    assert post(live_server, "/v1/embeddings", {"input": "你好", "dimensions": 384}).status_code == 200
    bad = post(live_server, "/v1/embeddings", {"input": "你好", "dimensions": 128})
    assert bad.status_code == 422 and "384" in bad.json()["error"]["message"]


def test_predict_vector_form_is_what_gte_service_clients_read(live_server: LiveServer) -> None:
    """The GTE web service's client code, as its guides show it, reads the vector straight
    from ``data``."""
    import requests

    response = requests.post(live_server.url + "/api/predict",
                             json={"data": ["退款多久能到账", "", False]}, timeout=60)
    data = response.json()["data"]
    assert len(data) == 384 and np.array(data).shape == (384,)
    assert abs(float(np.linalg.norm(data)) - 1) < 1e-4


def test_predict_compatibility_shapes(live_server: LiveServer) -> None:
    one = post(live_server, "/api/predict", {"data": ["你好", "您好\n\n再见\n"]}).json()["data"]
    assert len(one) == 2 and one[0] > one[1]
    groups = post(live_server, "/api/predict",
                  {"data": ["你好", "您好\n再见", "退款", "退钱"]}).json()["data"]
    assert len(groups) == 3 and groups[:2] == pytest.approx(one, abs=1e-4)
    bad = post(live_server, "/api/predict", {"data": ["one", "two", "three"]})
    assert bad.status_code == 422 and "accepted forms" in bad.json()["error"]["message"]
    short = post(live_server, "/api/predict", {"data": ["only one"]})
    assert short.status_code == 422 and "at least 2" in short.json()["error"]["message"]


def test_document_upsert_is_searchable_and_delete_hides_it(live_server: LiveServer) -> None:
    url = live_server.url + "/v1/collections/default/documents/e2e-1"
    entry = {"question": "你们支持数字人民币付款吗", "answer": "支持数字人民币钱包支付。",
             "similar_questions": ["能用数字人民币吗"], "category": "支付", "tags": ["数币"]}
    assert httpx.put(url, json=entry).status_code == 200
    assert httpx.get(url).json()["similar_questions"] == ["能用数字人民币吗"]
    hits = post(live_server, "/v1/search", {"query": "可以拿数字人民币付钱不", "top_k": 1}).json()["hits"]
    assert hits[0]["external_id"] == "e2e-1"
    assert httpx.delete(url).status_code == 204
    hits = post(live_server, "/v1/search", {"query": "可以拿数字人民币付钱不", "top_k": 5}).json()["hits"]
    assert "e2e-1" not in {h["external_id"] for h in hits}
    assert httpx.get(url).status_code == 404
    assert httpx.delete(url).status_code == 404


def _xlsx(rows: list[list], merge: str | None = None) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    if merge:
        book.active.merge_cells(merge)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(server: LiveServer, collection: str, name: str, content: bytes, **params: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/collections/{collection}/upload", params=params,
                      files={"file": (name, content)}, timeout=300)


def test_entry_management_upload_list_export_round_trip(live_server: LiveServer) -> None:
    base = live_server.url + "/v1/collections"
    for name in ("files-a", "files-b"):
        assert httpx.put(f"{base}/{name}").status_code in (200, 201)
    sheet = _xlsx([["标准问题", "相似问题", "答案", "分类", "标签"],
                   ["可以用数字人民币付款吗", "能用数币吗\n数字人民币支持不", "支持。", "支付", "数币"],
                   ["发票怎么开", "开票|要发票", "在订单页申请。", "发票", None]])
    done = upload(live_server, "files-a", "常见问题.xlsx", sheet)
    assert done.status_code == 200, done.text
    assert (done.json()["new"], done.json()["build"] is not None) == (2, True)
    hits = post(live_server, "/v1/search", {"query": "拿数字人民币付钱行不行", "top_k": 1,
                                            "collection": "files-a"}).json()["hits"]
    assert hits[0]["question"] == "可以用数字人民币付款吗"
    page = httpx.get(f"{base}/files-a/documents", params={"q": "要发票"}).json()
    assert page["total"] == 1 and page["items"][0]["similar_questions"] == ["开票", "要发票"]
    page = httpx.get(f"{base}/files-a/documents", params={"category": "支付", "limit": 1}).json()
    assert (page["total"], page["items"][0]["tags"]) == (1, ["数币"])
    assert httpx.get(f"{base}/files-a/documents", params={"offset": 5}).json()["items"] == []
    listed = httpx.get(f"{base}/files-a/documents").json()["items"]
    for fmt in ("jsonl", "csv", "xlsx"):
        exported = httpx.get(f"{base}/files-a/export", params={"format": fmt})
        assert exported.status_code == 200
        assert 'files-a-' in exported.headers["content-disposition"]
        same = upload(live_server, "files-a", f"export.{fmt}", exported.content, mode="replace").json()
        assert (same["unchanged"], same["new"], same["changed"], same["deleted"]) == (2, 0, 0, 0)
        copied = upload(live_server, "files-b", f"export.{fmt}", exported.content, mode="replace")
        assert copied.status_code == 200, copied.text
        items = httpx.get(f"{base}/files-b/documents").json()["items"]
        keep = ("external_id", "question", "answer", "similar_questions", "category", "tags", "metadata")
        assert [{k: d[k] for k in keep} for d in items] == [{k: d[k] for k in keep} for d in listed]
    # Bad files change nothing and say why.
    bad = [("merged.xlsx", _xlsx([["问题", None], ["a", "b"]], merge="A1:B1"), 422, "merged cells"),
           ("no-question.xlsx", _xlsx([["编号", "答案"], ["a1", "x"]]), 422, "no question column"),
           ("faq.pdf", b"%PDF", 422, "upload a .jsonl, .csv or .xlsx file"),
           ("rows.csv", "question,answer\n,缺问题\n".encode(), 422, "invalid row"),
           ("big.csv", b"question\n" + b"x" * 50_000_000, 413, "larger than")]
    for name, content, status, message in bad:
        answer = upload(live_server, "files-a", name, content)
        assert answer.status_code == status and message in answer.json()["error"]["message"], answer.text
    preview = upload(live_server, "files-a", "one.csv", "question\n发票怎么开\n".encode(),
                     mode="replace", dry_run="true")
    assert (preview.json()["changed"], preview.json()["deleted"]) == (1, 1)  # same question, same id
    empty = upload(live_server, "files-a", "empty.csv", "question\n".encode(), mode="replace")
    assert empty.status_code == 422 and "no entries" in empty.json()["error"]["message"]
    assert upload(live_server, "nope", "faq.csv", b"question\na\n").status_code == 404
    assert httpx.get(f"{base}/files-a/documents").json()["total"] == 2
    for name in ("files-a", "files-b"):
        assert httpx.delete(f"{base}/{name}", params={"force": "true"}).status_code == 204


def test_collections_info_and_operations(live_server: LiveServer) -> None:
    collections = httpx.get(live_server.url + "/v1/collections").json()
    default = next(c for c in collections if c["name"] == "default")
    assert default["documents"] >= 80 and "账户" in default["categories"]
    info = httpx.get(live_server.url + "/v1/info").json()
    assert info["dimension"] == 384 and info["collections"]["default"]["build_id"]
    assert httpx.get(live_server.url + "/health").json() == {"status": "ok", "engine": "ready"}
    assert httpx.get(live_server.url + "/ready").status_code == 200
    metrics = httpx.get(live_server.url + "/metrics").text
    for name in ("semsearch_requests_total", "semsearch_request_seconds", "semsearch_encode_batch_size",
                 "semsearch_encode_queue_depth", "semsearch_index_vectors",
                 "semsearch_top_hit_band_total", "semsearch_top_hit_none_share"):
        assert name in metrics
    assert httpx.get(live_server.url + "/docs").status_code == 200
    assert httpx.get(live_server.url + "/openapi.json").json()["info"]["title"] == "semsearch"


def _requests_counted(server: LiveServer, route: str, status: int, method: str = "POST") -> float:
    prefix = f'semsearch_requests_total{{method="{method}",route="{route}",status="{status}"}} '
    text = httpx.get(server.url + "/metrics").text
    return sum(float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix))


def test_metrics_count_each_request_under_its_route_and_status(live_server: LiveServer) -> None:
    """A body sent without a content type (``curl -d``) is counted under its route, not
    as unmatched, a static file under its mount; a refused body and an unknown path are
    counted too."""
    counted = lambda: [_requests_counted(live_server, "/v1/search", 200),  # noqa: E731
                       _requests_counted(live_server, "unmatched", 404),
                       _requests_counted(live_server, "unmatched", 413),
                       _requests_counted(live_server, "/static", 200, "GET")]
    before = counted()
    r = httpx.post(live_server.url + "/v1/search", content='{"query": "退款"}'.encode())
    assert r.status_code == 200 and r.headers["X-Semsearch-Worker"]
    assert httpx.post(live_server.url + "/v1/nowhere", json={}).status_code == 404
    huge = '{"query": "' + "退" * 2_000_000 + '"}'
    assert httpx.post(live_server.url + "/v1/search", content=huge.encode()).status_code == 413
    assert httpx.get(live_server.url + "/static/app.js").status_code == 200
    assert [b - a for a, b in zip(before, counted())] == [1, 1, 1, 1]


def test_hit_test_set_and_hand_set_bands_round_trip(live_server: LiveServer) -> None:
    """A collection's test questions and thresholds over HTTP: the search and /v1/info
    read what was set, answer matches get thresholds of their own, and a reset goes back
    to the model's prior."""
    base = live_server.url + "/v1/collections/bands-e2e"
    assert httpx.put(base).status_code in (200, 201)
    entry = {"question": "发票可以开专票吗", "answer": "可以开具增值税专用发票，请在订单页申请。"}
    assert httpx.put(base + "/documents/inv-1", json=entry).status_code == 200
    questions = [{"query": "能开增值税专用发票不", "expected_ids": ["inv-1"]},
                 {"query": "明天会下雨吗", "expected": "none"}]
    added = httpx.post(base + "/testset", json={"questions": questions}).json()
    assert (added["count"], added["answerable"]) == (2, 1)
    both = {"questions": [{"query": "x", "expected_ids": ["inv-1"], "expected": "none"}]}
    assert httpx.post(base + "/testset", json=both).status_code == 422
    prior = httpx.get(base + "/bands").json()
    assert prior["source"] == "model" and prior["passage_thresholds"] == prior["thresholds"]
    own = {"high": 0.95, "medium": 0.9, "low": 0.85, "margin": 0.01,
           "passages": {"high": 0.86, "medium": 0.83, "low": 0.8}}
    put = httpx.put(base + "/bands", json=own)
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["source"] == "manual" and body["thresholds"]["margin"] == 0.01
    assert body["passage_thresholds"] == {"high": 0.86, "medium": 0.83, "low": 0.8, "margin": 0.0}
    assert body["ranking"]["mode"] == "hybrid"  # the server's: none was fitted
    search = post(live_server, "/v1/search", {"query": "能开专票吗", "collection": "bands-e2e"}).json()
    assert search["thresholds"]["high"] == 0.95
    info = httpx.get(live_server.url + "/v1/info").json()["collections"]["bands-e2e"]
    assert info["thresholds_source"] == "collection" and info["passage_thresholds"]["high"] == 0.86
    bad = httpx.put(base + "/bands", json={"high": 0.5, "medium": 0.9, "low": 0.85})
    assert bad.status_code == 422 and "high >= medium >= low" in bad.json()["error"]["message"]
    assert httpx.get(base + "/bands").json()["source"] == "manual"  # nothing lost
    assert httpx.delete(base + "/bands").status_code == 204
    assert httpx.get(base + "/bands").json()["source"] == "model"
    gone = httpx.request("DELETE", base + "/testset", params={"query": "明天会下雨吗"})
    assert gone.status_code == 204 and httpx.get(base + "/testset").json()["count"] == 1
    assert httpx.delete(base, params={"force": "true"}).status_code == 204


BAD_REQUESTS = [
    ("/v1/search", {"query": ""}, 422),
    ("/v1/search", {"query": "  \u3000 \u200b"}, 422),
    ("/v1/search", {"query": "问" * 100_000}, 413),
    ("/v1/search", {"query": 123}, 422),
    ("/v1/search", {"query": ["a"]}, 422),
    ("/v1/search", {"query": "退款", "top_k": "5"}, 422),
    ("/v1/search", {"query": "退款", "top_k": 0}, 422),
    ("/v1/search", {"query": "退款", "top_k": 10_000}, 422),
    ("/v1/search", {"query": "退款", "collection": "no-such"}, 404),
    ("/v1/search", {"query": "退款", "min_band": "great"}, 422),
    ("/v1/search", {"query": "退款", "unknown_field": 1}, 422),
    ("/v1/search", [1, 2], 422),
    ("/v1/search/batch", {"queries": []}, 422),
    ("/v1/search/batch", {"queries": ["退款"] * 1000}, 413),
    ("/v1/similarity", {"source": "你好", "candidates": ["x"] * 1000}, 413),
    ("/v1/similarity", {"source": "你好", "candidates": []}, 422),
    ("/v1/similarity", {"source": "你好", "candidates": ["ok", ""]}, 422),
    ("/v1/embeddings", {"input": ""}, 422),
    ("/v1/embeddings", {"input": [1, 2]}, 422),
    ("/v1/embeddings", {"input": "x", "model": "text-embedding-3-small"}, 422),
    ("/api/predict", {"data": [1, 2, 3]}, 422),
]


@pytest.mark.parametrize(("path", "body", "status"), BAD_REQUESTS)
def test_bad_input_gets_4xx_with_the_error_shape(live_server: LiveServer, path: str,
                                                 body: object, status: int) -> None:
    r = post(live_server, path, body)
    assert r.status_code == status, r.text[:300]
    error = r.json()["error"]
    assert set(error) == {"code", "message", "detail"} and error["message"]


@pytest.mark.parametrize(("content", "headers"), [
    (b'{"query": ', {"content-type": "application/json"}),            # invalid JSON
    (b'{"query": "\xff\xfe"}', {"content-type": "application/json"}),  # not UTF-8
    (b"x" * 2_000_000, {"content-type": "application/json"}),          # body over the limit
])
def test_malformed_bodies_get_4xx_with_the_error_shape(live_server: LiveServer, content: bytes,
                                                        headers: dict) -> None:
    r = httpx.post(live_server.url + "/v1/search", content=content, headers=headers, timeout=60)
    assert 400 <= r.status_code < 500
    assert set(r.json()["error"]) == {"code", "message", "detail"}


def test_curl_without_content_type_still_works(live_server: LiveServer) -> None:
    r = httpx.post(live_server.url + "/v1/search", content='{"query": "退款多久到账"}'.encode(),
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()["hits"]


def test_unknown_route_uses_the_error_shape(live_server: LiveServer) -> None:
    r = httpx.get(live_server.url + "/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
