"""A reindex killed with SIGKILL leaves the previous build active, loadable and
searchable, and a rerun completes."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search.builds import active_build, identity_for, open_build
from search.service import SearchService
from search.store import repository
from search.store.db import dispose_all, open_database
from indexer.cache import CHUNK
from search.config import Settings
from search.text import normalize
from tests.conftest import REPO, FakeEncoder

SAMPLE = [json.loads(x) for x in (REPO / "data" / "faq_sample.jsonl").read_text("utf-8").splitlines()]


def run_victim(data_dir: Path, source: Path, stage: str | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.indexer.reindex_victim", str(data_dir),
                             str(source), *([stage] if stage else [])],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def kill_when_paused(process: subprocess.Popen, data_dir: Path) -> None:
    deadline = time.monotonic() + 120
    while not (data_dir / "paused").exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the victim never reached its stage"
        time.sleep(0.05)
    process.kill()  # SIGKILL: no cleanup handlers run
    process.wait()
    (data_dir / "paused").unlink()


def texts_of(rows: list[dict]) -> set[str]:
    return {normalize(q) for r in rows for q in [r["question"], *r.get("similar_questions", [])]}


def json_rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def source_file(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.mark.parametrize("stage", ["encode", "write"])
def test_killed_reindex_keeps_the_previous_build(tmp_path: Path, stage: str) -> None:
    data_dir = tmp_path / "data"
    first = finish(run_victim(data_dir, source_file(tmp_path / "v1.jsonl", SAMPLE[:30])))
    # v2 brings enough new texts for two encode chunks
    v2 = source_file(tmp_path / "v2.jsonl", SAMPLE + [
        {"id": f"extra-{i}", "question": f"额外的问题第{i}号", "similar_questions": [f"额外说法{i}"]}
        for i in range(120)])
    victim = run_victim(data_dir, v2, stage)
    kill_when_paused(victim, data_dir)

    settings = Settings(data_dir=data_dir, _env_file=None)
    sessions = open_database(settings.resolved_database_url)
    encoder = FakeEncoder()
    with sessions() as session:
        coll = repository.get_collection(session, "default")
        build = active_build(session, coll.id)
        assert build is not None and build.id == first["build"]
        open_build(build, data_dir, identity_for(encoder))  # file and record still agree
    service = SearchService(settings, encoder, sessions)
    assert service.search(SAMPLE[0]["question"], top_k=1).hits[0].external_id == SAMPLE[0]["id"]
    dispose_all()

    rerun = finish(run_victim(data_dir, v2))
    assert rerun["build"] is not None and rerun["build"] != first["build"]
    if stage == "encode":  # the chunk committed before the kill is not encoded again
        new_texts = texts_of(json_rows(v2)) - texts_of(SAMPLE[:30])
        assert rerun["encoded"] == len(new_texts) - CHUNK
    assert not list((data_dir / "builds").glob("*.tmp"))
