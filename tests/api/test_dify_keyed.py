"""Dify's route on a server with API keys and SEMSEARCH_DIFY_PREFIX: only a configured key
passes (1002 otherwise), and the route answers under the prefix too."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import LiveServer, copy_indexed, server_env, start_server, stop_server

pytestmark = [pytest.mark.model, pytest.mark.slow]
BODY = {"knowledge_id": "default", "query": "退款多久能到账",
        "retrieval_setting": {"top_k": 1, "score_threshold": 0.5}}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, pristine_sample: Path) -> Iterator[LiveServer]:
    data_dir = copy_indexed(pristine_sample, tmp_path_factory.mktemp("keyed"))
    server = start_server(data_dir, server_env(data_dir, SEMSEARCH_API_KEYS="other,dify-key",
                                               SEMSEARCH_DIFY_PREFIX="/kb/dify"))
    yield server
    stop_server(server)


@pytest.mark.parametrize("path", ["/retrieval", "/kb/dify/retrieval"])
def test_only_a_configured_key_passes(keyed: LiveServer, path: str) -> None:
    url = keyed.url + path
    ok = httpx.post(url, json=BODY, headers={"Authorization": "Bearer dify-key"}, timeout=60)
    assert ok.status_code == 200 and ok.json()["records"][0]["metadata"]["entry_id"] == "refund-001"
    assert httpx.post(url, json=BODY, headers={"Authorization": "bearer other"}).status_code == 200
    wrong = httpx.post(url, json=BODY, headers={"Authorization": "Bearer dify-kex"})
    assert (wrong.status_code, wrong.json()["error_code"]) == (403, 1002)
    # the key is checked before the body is read
    unread = httpx.post(url, content=b"{broken", headers={"Authorization": "Bearer nope"})
    assert (unread.status_code, unread.json()["error_code"]) == (403, 1002)
    missing = httpx.post(url, json=BODY, headers={"X-API-Key": "dify-key"})
    assert (missing.status_code, missing.json()["error_code"]) == (403, 1001)


def test_other_prefixes_are_not_served(keyed: LiveServer) -> None:
    r = httpx.post(keyed.url + "/kb/retrieval", json=BODY, headers={"Authorization": "Bearer dify-key"})
    assert r.status_code in (404, 405)
