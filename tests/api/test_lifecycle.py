"""Writes survive restarts, API keys guard writes, and an offline reindex is swapped in
under load without a failed request."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import SAMPLE, SEMSEARCH, copy_indexed, server_env, start_server, stop_server
from tests.conftest import REPO

pytestmark = [pytest.mark.model, pytest.mark.slow]
KEY = "s3cret-key"


@pytest.fixture
def fresh_dir(tmp_path: Path, pristine_sample: Path) -> Path:
    return copy_indexed(pristine_sample, tmp_path)


def search_ids(url: str, query: str, k: int = 5) -> list[str]:
    r = httpx.post(url + "/v1/search", json={"query": query, "top_k": k}, timeout=30)
    r.raise_for_status()
    return [h["external_id"] for h in r.json()["hits"]]


def test_api_keys_guard_writes_and_writes_survive_a_restart(fresh_dir: Path) -> None:
    env = server_env(fresh_dir, SEMSEARCH_API_KEYS=f"other,{KEY}")
    server = start_server(fresh_dir, env)
    doc = server.url + "/v1/collections/default/documents/"
    entry = {"question": "门店自提的包裹放多久", "similar_questions": ["自提点能放几天"], "category": "物流"}
    try:
        assert httpx.put(doc + "keep-1", json=entry).status_code == 401
        wrong = httpx.put(doc + "keep-1", json=entry, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        assert httpx.put(doc + "keep-1", json=entry, headers={"X-API-Key": KEY}).status_code == 200
        assert httpx.delete(doc + "acct-001").status_code == 401
        assert httpx.delete(doc + "acct-001", headers={"Authorization": f"Bearer {KEY}"}).status_code == 204
        assert search_ids(server.url, "自提点的快递能放几天", 1) == ["keep-1"]  # reads need no key
        collection = server.url + "/v1/collections/keyed"
        assert httpx.put(collection).status_code == 401
        assert httpx.put(collection, headers={"X-API-Key": KEY}).status_code == 201
        assert httpx.delete(collection).status_code == 401
        assert httpx.delete(collection, headers={"X-API-Key": KEY}).status_code == 204
    finally:
        stop_server(server)
    server = start_server(fresh_dir, env)
    try:
        assert search_ids(server.url, "自提点的快递能放几天", 1) == ["keep-1"]
        assert "acct-001" not in search_ids(server.url, "忘记登录密码怎么找回？", 10)
    finally:
        stop_server(server)


def test_a_write_the_index_missed_is_recovered_on_load(fresh_dir: Path) -> None:
    """A passage committed to the database but never added to a loaded index (a server
    killed between the two) is added when the next server loads."""
    import subprocess

    code = ("from api.cli.common import load_encoder, settings; "
            "from indexer.writer import DocumentWriter; from search.documents import FaqEntry; "
            "from search.store.db import open_database; s = settings(); "
            "DocumentWriter(s, load_encoder(), open_database(s.resolved_database_url)).upsert("
            "'default', FaqEntry('late-1', '发票可以寄到公司吗', category='支付'))")
    written = subprocess.run([str(Path(SEMSEARCH).with_name("python")), "-c", code],
                             env=server_env(fresh_dir), cwd=REPO, capture_output=True, text=True,
                             timeout=600)
    assert written.returncode == 0, written.stderr
    server = start_server(fresh_dir, server_env(fresh_dir))
    try:
        assert search_ids(server.url, "发票能不能寄到单位", 1) == ["late-1"]
    finally:
        stop_server(server)


def test_offline_reindex_is_hot_swapped_without_failed_requests(fresh_dir: Path) -> None:
    server = start_server(fresh_dir, server_env(fresh_dir))
    old_build = httpx.get(server.url + "/v1/info").json()["collections"]["default"]["build_id"]
    failures: list[str] = []
    done = threading.Event()
    count = [0]

    def hammer() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                try:
                    r = client.post(server.url + "/v1/search", json={"query": "退款多久到账", "top_k": 3})
                    if r.status_code != 200 or not r.json()["hits"]:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                count[0] += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        rows = [json.loads(x) for x in SAMPLE.read_text("utf-8").splitlines()]
        rows.append({"id": "swap-1", "question": "支持用礼品卡抵扣运费吗", "category": "优惠"})
        source = fresh_dir / "v2.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        server.cli("reindex", str(source))
        finished = time.monotonic()
        while time.monotonic() - finished < 5:
            info = httpx.get(server.url + "/v1/info").json()["collections"]["default"]
            if info["build_id"] != old_build:
                break
            time.sleep(0.1)
        swapped_after = time.monotonic() - finished
        assert info["build_id"] != old_build, "the new build was not picked up within 5 s"
        assert search_ids(server.url, "礼品卡能抵运费吗", 1) == ["swap-1"]
        time.sleep(1)
    finally:
        done.set()
        for t in threads:
            t.join()
        stop_server(server)
    assert not failures, failures[:5]
    assert count[0] > 20 and swapped_after < 5
