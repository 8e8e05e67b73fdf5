"""The search log and feedback through a real server: every search gets a search_id and
a row (off the request path), feedback on it is stored, and bad feedback is refused."""
from __future__ import annotations

import time

import httpx
from sqlalchemy import create_engine, text

from tests.api.conftest import LiveServer


def rows(server: LiveServer, sql: str, **params: object) -> list:
    engine = create_engine(f"sqlite:///{server.data_dir / 'semsearch.db'}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def logged(server: LiveServer, search_id: str) -> list:
    for _ in range(50):  # the writer runs off the request path: a moment behind
        found = rows(server, "SELECT query, normalized_query, top, top_band, user, collection, "
                             "length(vector) FROM search_log WHERE id = :id", id=search_id)
        if found:
            return found
        time.sleep(0.1)
    return []


def test_every_search_is_logged_with_what_it_answered(live_server: LiveServer) -> None:
    answer = httpx.post(live_server.url + "/v1/search",
                        json={"query": "退款多久能到账啊？", "user": "u-42"}).json()
    search_id = answer["search_id"]
    assert len(search_id) == 32
    ((query, normalized, top, band, user, collection, dim_bytes),) = logged(live_server, search_id)
    assert (query, normalized, user, collection) == ("退款多久能到账啊？", answer["normalized_query"],
                                                     "u-42", "default")
    assert top.startswith('[["' + answer["hits"][0]["external_id"])
    assert band == answer["hits"][0]["band"] and dim_bytes == 384 * 4

    batch = httpx.post(live_server.url + "/v1/search/batch",
                       json={"queries": ["怎么改收货地址", "今天天气怎么样"]}).json()["results"]
    ids = [r["search_id"] for r in batch]
    assert len(set(ids)) == 2 and all(logged(live_server, i) for i in ids)


def test_feedback_is_stored_on_the_search_it_names(live_server: LiveServer) -> None:
    search_id = httpx.post(live_server.url + "/v1/search",
                           json={"query": "账号被锁住了怎么办"}).json()["search_id"]
    done = httpx.post(live_server.url + "/v1/feedback",
                      json={"search_id": search_id, "helpful": False, "entry_id": "sec-008",
                            "comment": "应该是冻结那条"})
    assert done.status_code == 204 and done.content == b""
    assert httpx.post(live_server.url + "/v1/feedback",
                      json={"search_id": search_id, "helpful": True}).status_code == 204
    stored = rows(live_server, "SELECT helpful, entry_id, comment FROM feedback "
                               "WHERE search_id = :id ORDER BY id", id=search_id)
    assert [tuple(r) for r in stored] == [(0, "sec-008", "应该是冻结那条"), (1, None, None)]


def test_bad_feedback_gets_the_json_error_shape(live_server: LiveServer) -> None:
    unknown = httpx.post(live_server.url + "/v1/feedback",
                         json={"search_id": "0" * 32, "helpful": True})
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert error["code"] == "not_found" and "no logged search" in error["message"]
    ours = "a" * 32
    for body in ({"search_id": ours}, {"search_id": ours, "helpful": "yes"},
                 {"search_id": "not-a-search-id", "helpful": True},
                 {"search_id": ours, "helpful": True, "extra": 1}):
        refused = httpx.post(live_server.url + "/v1/feedback", json=body)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_input", body


def test_missed_questions_come_back_as_a_group_and_applying_it_answers_them(live_server: LiveServer) -> None:
    """A collection of its own (the live server is shared): three users ask about gift
    cards, which it does not hold; insights groups them; new_entry makes them answerable."""
    base = live_server.url + "/v1/collections/loop"
    assert httpx.put(base).status_code in (200, 201)
    try:
        _missed_then_applied(live_server, base)
    finally:  # the live server is shared
        httpx.delete(base, params={"force": "true"})


def _missed_then_applied(live_server: LiveServer, base: str) -> None:
    httpx.put(base + "/documents/refund", json={"question": "退款多久能到账",
                                                "answer": "三到五个工作日"}).raise_for_status()
    asked = ["礼品卡怎么用", "礼品卡怎么使用啊", "礼品卡在哪里用"]
    for query in asked + ["礼品卡怎么用"]:
        httpx.post(live_server.url + "/v1/search", json={"query": query, "collection": "loop"})
    # no wait: insights first writes what this worker has queued (the log is written off the request path)
    found = httpx.get(base + "/insights", params={"since": "1h"}).json()
    assert found["searches"] == 4 and found["collection"] == "loop"
    group = next(g for g in found["groups"] if "礼品卡怎么用" in g["questions"])
    assert group["size"] >= 2 and group["representative"] == "礼品卡怎么用"
    assert group["nearest"]["entry_id"] == "refund" and group["suggestion"] == "new_entry"
    done = httpx.post(base + "/insights/apply", json={
        "group_id": group["group_id"], "action": "new_entry", "entry_id": "gift-card",
        "answer": "在结算页选择礼品卡支付", "since": "1h"})
    assert done.status_code == 200, done.text
    assert done.json()["entry_id"] == "gift-card"
    top = httpx.post(live_server.url + "/v1/search",
                     json={"query": "礼品卡怎么用", "collection": "loop"}).json()["hits"][0]
    assert top["external_id"] == "gift-card" and top["answer"] == "在结算页选择礼品卡支付"
    again = httpx.post(base + "/insights/apply", json={"group_id": group["group_id"],
                                                        "action": "new_entry", "since": "1h"})
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    bad = httpx.get(base + "/insights", params={"since": "last week"})
    assert bad.status_code == 422 and "not a time" in bad.json()["error"]["message"]
    assert httpx.get(live_server.url + "/v1/collections/nope/insights").status_code == 404


def test_the_audit_reports_the_faqs_problems_in_one_shape(live_server: LiveServer) -> None:
    """The sample FAQ: counts agree with the lists, every row names both entries, and an
    entry that was just a first hit is not unreached; an unknown collection is a 404."""
    answer = httpx.post(live_server.url + "/v1/search", json={"query": "怎么修改收货地址"}).json()
    assert logged(live_server, answer["search_id"])
    found = httpx.get(live_server.url + "/v1/collections/default/audit", timeout=120)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["collection"] == "default" and body["entries"] == 80
    assert body["questions"] >= body["entries"]
    assert set(body["thresholds"]) == {"high", "medium", "duplicate"}
    assert body["thresholds"]["duplicate"] > body["thresholds"]["high"]  # the bundled fit
    for key in ("duplicates", "conflicts", "misfiled"):
        assert body["counts"][key] == len(body[key])
    assert body["conflicts"] == [d for d in body["duplicates"] if not d["same_answer"]]
    for d in body["duplicates"]:
        assert d["entry_a"] != d["entry_b"] and d["score"] >= body["thresholds"]["high"]
        assert d["sure"] == (d["score"] >= body["thresholds"]["duplicate"])
    for m in body["misfiled"]:
        assert m["other_score"] > m["own_score"] and m["other_score"] >= body["thresholds"]["medium"]
    assert body["searches"] >= 1 and body["unreached_reason"] is None
    unreached = {u["entry_id"] for u in body["unreached"]}
    assert answer["hits"][0]["external_id"] not in unreached
    assert body["counts"]["unreached"] == len(unreached) < body["entries"]
    missing = httpx.get(live_server.url + "/v1/collections/nope/audit")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
