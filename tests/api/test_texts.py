"""Dedup and clustering of any texts, over HTTP and from the command line (real model)."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from search.profiles import BUNDLED_MODEL, builtin_profile
from tests.api.conftest import LiveServer
from tests.api.test_cli import one_line_error, run, run_without_model

TEXTS = ["退款多久能到账", "退款多久能到账？", "怎么修改收货地址", "今天天气怎么样", "退款多久能到帐"]


def test_dedup_groups_near_duplicates_at_the_duplicate_threshold(live_server: LiveServer) -> None:
    found = httpx.post(live_server.url + "/v1/dedup", json={"texts": TEXTS}).json()
    info = httpx.get(live_server.url + "/v1/info").json()
    high = info["collections"]["default"]["thresholds"]["high"]
    duplicate = builtin_profile(BUNDLED_MODEL).duplicate  # type: ignore[union-attr]
    assert found["texts"] == 5 and 0.9 < found["threshold"] <= 1
    assert found["threshold"] == pytest.approx(max(high, duplicate))
    (group,) = found["groups"]  # only groups of two or more
    assert {0, 1} <= set(group["indices"]) and 2 not in group["indices"] and 3 not in group["indices"]
    assert group["texts"] == [TEXTS[i] for i in group["indices"]]
    loose = httpx.post(live_server.url + "/v1/dedup", json={"texts": TEXTS, "threshold": -1}).json()
    assert loose["groups"][0]["size"] == 5 and loose["threshold"] == -1


def test_cluster_covers_every_text_biggest_group_first(live_server: LiveServer) -> None:
    found = httpx.post(live_server.url + "/v1/cluster", json={"texts": TEXTS}).json()
    assert sorted(i for g in found["groups"] for i in g["indices"]) == list(range(5))
    sizes = [g["size"] for g in found["groups"]]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] >= 2
    assert found["groups"][0]["representative"] in found["groups"][0]["texts"]


def test_too_many_or_no_texts_are_refused(live_server: LiveServer) -> None:
    too_many = httpx.post(live_server.url + "/v1/cluster", json={"texts": ["好"] * 5001})
    assert too_many.status_code == 413
    assert too_many.json()["error"]["detail"]["limit"] == 5000
    for body in ({"texts": []}, {"texts": ["  "]}, {"texts": ["好"], "threshold": 2}, {}):
        assert httpx.post(live_server.url + "/v1/dedup", json=body).status_code == 422, body


def test_dedup_and_cluster_from_the_command_line(tmp_path: Path) -> None:
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join(TEXTS) + "\n\n", "utf-8")
    found = json.loads(run(tmp_path, "dedup", str(lines), "--json").stdout)
    assert found["texts"] == 5 and {0, 1} <= set(found["groups"][0]["indices"])
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in TEXTS), "utf-8")
    table = run(tmp_path, "cluster", str(jsonl), "--csv")
    assert table.returncode == 0 and table.stdout.splitlines()[0].startswith("group,size")
    assert len(table.stdout.splitlines()) == 6  # a header and one row per text
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"txt": "好"}\n', "utf-8")
    one_line_error(run_without_model(tmp_path, "dedup", str(bad)), 2, "needs a 'text' field")
