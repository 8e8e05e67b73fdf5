"""The hit-test loop from the command line, with the real model: import the sample's
questions, evaluate, calibrate the collection's bands, and see the reindex gate refuse a
damaged source (exit 3, the old build serving, the changed questions listed)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.api.conftest import SAMPLE, SEMSEARCH, copy_indexed, server_env
from tests.conftest import REPO

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.longest(minutes=1.5)]
QUESTIONS = ["faq_sample_dev_queries.jsonl", "faq_sample_offtopic_dev.jsonl"]  # 320 + 50


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SEMSEARCH, *args], env=server_env(data_dir, COLUMNS="200"), cwd=REPO,
                          capture_output=True, text=True, timeout=900)


def test_hit_tests_calibration_and_the_reindex_gate(tmp_path: Path, pristine_sample: Path) -> None:
    copy_indexed(pristine_sample, tmp_path)  # the sample, indexed by `semsearch reindex`
    for name in QUESTIONS:
        done = cli(tmp_path, "testset", "import", str(REPO / "data" / name))
        assert done.returncode == 0, done.stderr
    listed = json.loads(cli(tmp_path, "testset", "list", "--json").stdout)
    assert len(listed) == 370 and sum(q.get("expected") == "none" for q in listed) == 50

    evaluated = json.loads(cli(tmp_path, "eval", "testset", "--json").stdout)
    assert evaluated["n_questions"] == 370 and 0.6 < evaluated["recall_at_1"] < 1
    every_band = {"high", "medium", "low", "none"}
    assert set(evaluated["band_share"]) == set(evaluated["band_precision"]) == every_band

    fitted = cli(tmp_path, "calibrate", "--collection", "default", "--write", "--json")
    assert fitted.returncode == 0, fitted.stderr
    bands = json.loads(fitted.stdout)
    assert bands["written"] and bands["in_sample"]["band_precision"]["high"] >= 0.95
    after = json.loads(cli(tmp_path, "eval", "testset", "--json").stdout)
    assert after["thresholds"]["high"] == pytest.approx(bands["high"])
    assert after["ranking"] == bands["ranking"] and len(bands["rankings_tried"]) == 7
    assert after["recall_at_1"] == pytest.approx(bands["rankings_tried"][
        "hybrid {:g}".format(bands["ranking"]["weight"]) if bands["ranking"]["mode"] == "hybrid"
        else bands["ranking"]["mode"]])
    assert after["high_share_of_answerable"] > evaluated["high_share_of_answerable"]

    rows = [json.loads(x) for x in SAMPLE.read_text("utf-8").splitlines()]
    damaged = tmp_path / "damaged.jsonl"  # 30% of the entries dropped
    damaged.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:56]), "utf-8")
    builds_before = cli(tmp_path, "builds", "list").stdout
    refused = cli(tmp_path, "reindex", str(damaged), "--full")
    assert refused.returncode == 3, refused.stderr
    assert "was not activated" in refused.stderr and "answer(s) changed" in refused.stderr
    assert cli(tmp_path, "builds", "list").stdout == builds_before  # the old build serves
    assert cli(tmp_path, "reindex", str(damaged), "--full", "--no-gate").returncode == 0
    damaged_build = cli(tmp_path, "builds", "list").stdout.split("│")[1].strip()
    # The full source again: the gate lets a better build through, and `--against` lists
    # what changed since the damaged build answered.
    assert cli(tmp_path, "reindex", str(SAMPLE), "--full").returncode == 0
    compared = json.loads(cli(tmp_path, "eval", "testset", "--against", damaged_build, "--json").stdout)
    assert compared["changed"] and compared["recall_at_1"] == pytest.approx(after["recall_at_1"])
    assert all(c["before"] != c["after"] for c in compared["changed"])
    old_build = builds_before.split("│")[1].strip()  # made before the set existed
    unknown = cli(tmp_path, "eval", "testset", "--against", old_build)
    assert unknown.returncode == 2 and "recorded no hit-test answers" in unknown.stderr
