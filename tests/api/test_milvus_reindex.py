"""A reindex against Milvus while the API serves from it: the old Milvus collection keeps
answering until the new one is complete and active, no request fails or comes back
empty, and the alias ends on the new collection with the old one pruned.

The server and the reindex are two processes, so Milvus runs as a server here
(``milvus-lite server``, reached through an ``http://`` URI as a cluster would be)."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import SAMPLE, SEMSEARCH, LiveServer, server_env, start_server, stop_server
from tests.backends import MilvusServer
from tests.conftest import REPO

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    server = MilvusServer(tmp_path_factory.mktemp("milvus") / "data")
    yield server
    server.stop()


@pytest.fixture
def served(tmp_path: Path, milvus_server: MilvusServer) -> Iterator[LiveServer]:
    env = server_env(tmp_path, SEMSEARCH_VECTOR_STORE="milvus",
                     SEMSEARCH_MILVUS_URI=milvus_server.uri, SEMSEARCH_KEEP_BUILDS="1")
    subprocess.run([SEMSEARCH, "reindex", str(SAMPLE)], env=env, cwd=REPO, check=True,
                   capture_output=True, timeout=600)
    server = start_server(tmp_path, env)
    yield server
    stop_server(server)


def milvus_state(uri: str) -> tuple[list[str], dict[str, str]]:
    from pymilvus import MilvusClient

    from search.milvus_store import GRPC_OPTIONS

    client = MilvusClient(uri=uri, grpc_options=GRPC_OPTIONS)  # no idle pings (GOAWAY)
    try:
        aliases = client.list_aliases().get("aliases", [])
        return (sorted(client.list_collections()),
                {a: client.describe_alias(a)["collection_name"] for a in aliases})
    finally:
        client.close()


def test_reindex_into_milvus_swaps_without_a_failed_or_empty_answer(
        served: LiveServer, milvus_server: MilvusServer) -> None:
    old = httpx.get(served.url + "/v1/info", timeout=30).json()["collections"]["default"]
    assert old["index_kind"].startswith("milvus:")
    collections, aliases = milvus_state(milvus_server.uri)
    assert len(aliases) == 1 and list(aliases.values()) == collections
    failures: list[str] = []
    seen_builds: list[int] = []
    done = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                try:
                    r = client.post(served.url + "/v1/search", json={"query": "退款多久到账", "top_k": 3})
                    if r.status_code != 200 or not r.json()["hits"]:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        seen_builds.append(r.json()["build_id"])
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        rows = [json.loads(x) for x in SAMPLE.read_text("utf-8").splitlines()]
        rows.append({"id": "swap-m", "question": "支持用礼品卡抵扣运费吗", "category": "优惠"})
        source = served.data_dir / "v2.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        served.cli("reindex", str(source))
        finished = time.monotonic()
        while time.monotonic() - finished < 5:
            info = httpx.get(served.url + "/v1/info", timeout=30).json()["collections"]["default"]
            if info["build_id"] != old["build_id"]:
                break
            time.sleep(0.1)
        assert info["build_id"] != old["build_id"], "the new build was not picked up within 5 s"
        hits = httpx.post(served.url + "/v1/search", json={"query": "礼品卡能抵运费吗", "top_k": 1},
                          timeout=30).json()["hits"]
        assert hits[0]["external_id"] == "swap-m"
        time.sleep(1)
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not failures, failures[:5]
    assert len(seen_builds) > 20 and seen_builds[0] == old["build_id"]
    swapped = seen_builds.index(info["build_id"])  # old until the swap, new ever after
    assert set(seen_builds[:swapped]) == {old["build_id"]}
    assert set(seen_builds[swapped:]) == {info["build_id"]}
    collections, aliases = milvus_state(milvus_server.uri)
    assert len(collections) == 1 and list(aliases.values()) == collections  # old one pruned
