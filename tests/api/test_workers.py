"""``semsearch serve --workers 2``: a write through one worker is visible through every
other within 2 s, an offline reindex reaches them all, and /metrics sums all of them.

Requests go out on fresh connections so the kernel spreads them over the workers; each
response names its worker in ``X-Semsearch-Worker``."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import (SAMPLE, SEMSEARCH, LiveServer, copy_indexed, server_env,
                                start_server, stop_server)
from tests.conftest import REPO

pytestmark = [pytest.mark.model, pytest.mark.slow]
WORKERS = 2  # as many as cores here: more only make the model loads queue up
VISIBLE_WITHIN_S = 2.0
HEADER = "X-Semsearch-Worker"


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory, pristine_sample: Path) -> Iterator[LiveServer]:
    data_dir = copy_indexed(pristine_sample, tmp_path_factory.mktemp("workers"))
    env = server_env(data_dir, SEMSEARCH_RELOAD_INTERVAL_S="1.0")  # the default interval
    server = start_server(data_dir, env, workers=WORKERS, timeout=600)
    try:
        wait_for_workers(server.url)
        yield server
    finally:
        stop_server(server)


def wait_for_workers(url: str, timeout: float = 300) -> set[str]:
    """Until every worker has answered (the others may still be loading the model)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < WORKERS and time.monotonic() < deadline:
        r = httpx.get(url + "/ready", timeout=30)
        if r.status_code == 200:
            seen.add(r.headers[HEADER])
        else:
            time.sleep(0.2)
    assert len(seen) == WORKERS, f"only {len(seen)} of {WORKERS} workers answered"
    return seen


def probe(url: str, query: str, check: Callable[[httpx.Response], bool], since: float,
          settle: float = VISIBLE_WITHIN_S, timeout: float = 120) -> dict[str, list[tuple[float, bool]]]:
    """Send requests from 4 threads until every worker has answered at least twice after
    ``settle`` seconds; returns worker -> [(seconds since ``since``, check passed)]."""
    answers: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    lock = threading.Lock()
    deadline = time.monotonic() + timeout

    def late_enough() -> bool:
        return len(answers) == WORKERS and all(
            sum(t >= settle for t, _ in a) >= 2 for a in answers.values())

    def loop() -> None:
        while time.monotonic() < deadline:
            with lock:
                if late_enough():
                    return
            started = time.monotonic() - since
            r = httpx.post(url + "/v1/search", json={"query": query, "top_k": 3}, timeout=30)
            assert r.status_code == 200, r.text[:300]
            with lock:
                answers[r.headers[HEADER]].append((started, check(r)))

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert late_enough(), {w: len(a) for w, a in answers.items()}
    return answers


def has(external_id: str) -> Callable[[httpx.Response], bool]:
    return lambda r: external_id in {h["external_id"] for h in r.json()["hits"]}


def assert_visible_everywhere(answers: dict[str, list[tuple[float, bool]]], writer: str) -> dict:
    """Every answer sent 2 s or more after the write passed; the writer's passed at once."""
    late_misses = {w: [t for t, ok in a if not ok and t >= VISIBLE_WITHIN_S] for w, a in answers.items()}
    assert not any(late_misses.values()), late_misses
    assert all(ok for _, ok in answers.get(writer, [])), answers.get(writer)
    return {w: max([t for t, ok in a if not ok], default=0.0) for w, a in answers.items()}


def test_a_write_through_one_worker_reaches_every_worker_within_2s(workers: LiveServer) -> None:
    url = workers.url + "/v1/collections/default/documents/w-1"
    entry = {"question": "你们支持数字人民币付款吗", "similar_questions": ["能用数字人民币吗"],
             "category": "支付"}
    r = httpx.put(url, json=entry, timeout=60)
    written, writer = time.monotonic(), r.headers[HEADER]
    assert r.status_code == 200
    last_miss = assert_visible_everywhere(
        probe(workers.url, "能用数字人民币付款吗", has("w-1"), written), writer)
    print(f"write via {writer}; last miss per worker (s): {last_miss}")

    r = httpx.delete(url, timeout=60)
    deleted, writer = time.monotonic(), r.headers[HEADER]
    assert r.status_code == 204
    gone = lambda r: not has("w-1")(r)  # noqa: E731
    last_miss = assert_visible_everywhere(probe(workers.url, "能用数字人民币付款吗", gone, deleted), writer)
    print(f"delete via {writer}; last miss per worker (s): {last_miss}")


def test_an_offline_reindex_reaches_every_worker(workers: LiveServer, tmp_path: Path) -> None:
    info = workers.url + "/v1/info"
    old = httpx.get(info, timeout=30).json()["collections"]["default"]["build_id"]
    rows = [json.loads(x) for x in SAMPLE.read_text("utf-8").splitlines()]
    rows.append({"id": "w-swap", "question": "能用礼品卡抵扣运费吗", "category": "优惠"})
    source = tmp_path / "v2.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    workers.cli("reindex", str(source))
    done = time.monotonic()
    serving: dict[str, int] = {}  # worker -> the build it reported last
    while time.monotonic() - done < 30 and (len(serving) < WORKERS or old in serving.values()):
        r = httpx.get(info, timeout=30)
        serving[r.headers[HEADER]] = r.json()["collections"]["default"]["build_id"]
    assert len(serving) == WORKERS and old not in serving.values(), serving
    answers = probe(workers.url, "礼品卡可以抵运费吗", has("w-swap"), done, settle=0.0)
    assert all(ok for a in answers.values() for _, ok in a)


def test_metrics_sum_every_worker(workers: LiveServer) -> None:
    def searches() -> float:
        text = httpx.get(workers.url + "/metrics", timeout=30).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("semsearch_requests_total{") and 'route="/v1/search"' in line)

    before = searches()
    answers = probe(workers.url, "退款多久到账", lambda r: True, time.monotonic(), settle=0.0)
    sent = sum(len(a) for a in answers.values())
    assert len(answers) == WORKERS
    totals = {searches() for _ in range(8)}  # scraped through several workers: one total
    assert totals == {before + sent}, (before, sent, totals)
    text = httpx.get(workers.url + "/metrics", timeout=30).text
    assert "semsearch_top_hit_none_share" in text and "semsearch_index_vectors" in text


def test_several_workers_refuse_milvus_lite(tmp_path: Path) -> None:
    env = server_env(tmp_path, SEMSEARCH_VECTOR_STORE="milvus")
    result = subprocess.run([SEMSEARCH, "serve", "--workers", "2"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Milvus Lite serves one process at a time" in result.stderr


def test_stopping_several_workers_exits_cleanly(tmp_path: Path, pristine_sample: Path) -> None:
    """SIGTERM (as Ctrl+C or a service manager sends) stops every worker and the parent
    with status 0 and no error, once its metrics folder is gone."""
    data_dir = copy_indexed(pristine_sample, tmp_path)
    server = start_server(data_dir, server_env(data_dir), workers=WORKERS, timeout=600)
    wait_for_workers(server.url)
    stop_server(server)
    log = (data_dir / "server.log").read_text("utf-8")
    assert server.process.returncode == 0, log[-2000:]
    assert "internal error" not in log and "Traceback" not in log
