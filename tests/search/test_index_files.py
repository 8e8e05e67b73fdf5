"""Build files are immutable: written read-only, read into memory, and a file changed
under a running registry is reported and no longer served (never a crash, never
garbage). The served vector count stays right across restarts."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.reindex import reindex
from indexer.writer import DocumentWriter
from search.builds import active_build
from search.documents import FaqEntry
from search.errors import NotReadyError
from search.service import SearchService
from search.store import repository
from search.store.db import open_database
from tests.conftest import REPO, FakeEncoder
from tests.indexer.test_reindex import QUIET, SAMPLE, write_source


@pytest.fixture
def served(settings, tmp_path):
    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "faq.jsonl", SAMPLE),
            "default", console=QUIET)
    service = SearchService(settings, FakeEncoder(), sessions)
    assert service.search(SAMPLE[0]["question"], top_k=1).hits
    with sessions() as session:
        build = active_build(session, repository.get_collection(session, "default").id)
    return settings, sessions, service, settings.data_dir / build.file


def test_build_files_are_written_read_only(served) -> None:
    *_, path = served
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def overwrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)  # what an operator (or root) would have to do first
    path.write_bytes(data)


@pytest.mark.parametrize("damage", ["truncate", "overwrite", "remove"])
def test_a_changed_file_is_reported_and_not_served(served, damage: str) -> None:
    settings, _, service, path = served
    size = path.stat().st_size
    if damage == "truncate":
        overwrite(path, b"")
    elif damage == "overwrite":  # same size, other bytes
        overwrite(path, bytes(reversed(path.read_bytes())))
        assert path.stat().st_size == size
    else:
        path.unlink()
    # the copy in memory still answers until the next refresh notices (no SIGBUS) ...
    assert service.search(SAMPLE[0]["question"], top_k=1).hits[0].external_id == SAMPLE[0]["id"]
    service.registry.refresh()
    assert "after it was loaded" in service.registry.errors["default"]
    with pytest.raises(NotReadyError, match="cannot be served"):  # ... then nothing is served
        service.search(SAMPLE[0]["question"], top_k=1)
    assert str(settings.data_dir) not in service.registry.errors["default"]


def test_a_restored_file_is_served_again(served) -> None:
    _, _, service, path = served
    original = path.read_bytes()
    overwrite(path, b"x" * len(original))
    service.registry.refresh()
    service.registry.refresh()  # a corrupt file is read once, not on every refresh
    assert "default" in service.registry.errors
    overwrite(path, original)
    service.registry.refresh()
    assert "default" not in service.registry.errors
    assert service.search(SAMPLE[0]["question"], top_k=1).hits[0].external_id == SAMPLE[0]["id"]


PROBE = """
import sys
from pathlib import Path
import numpy as np
from search import index
path = Path(sys.argv[1])
loaded = index.load(path)
queries = np.ones((1, loaded.d), dtype=np.float32)
path.chmod(0o644)
with open(path, "r+b") as handle:
    handle.truncate(0)
print(index.search(loaded, queries, 3)[1].tolist())
"""


def test_truncating_the_file_of_a_loaded_index_does_not_crash_the_process(served) -> None:
    *_, path = served
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])  # -7 would be SIGBUS


def test_indexed_vectors_stay_right_after_a_restart(served) -> None:
    """Changed entries log removals of passages added after the build as well; those
    must not be subtracted from the served count once more."""
    settings, sessions, _, _ = served
    writer = DocumentWriter(settings, FakeEncoder(), sessions)
    entry = SAMPLE[0]
    for version in range(3):  # each write removes the passages the previous one added
        writer.upsert("default", FaqEntry(entry["id"], entry["question"], entry["answer"],
                                          [f"第{version}版的说法", f"另一种第{version}版说法"]))
    writer.delete("default", SAMPLE[1]["id"])
    restarted = SearchService(settings, FakeEncoder(), sessions)
    with sessions() as session:
        coll = repository.get_collection(session, "default")
        passages = len(repository.all_passages(session, coll.id))
    assert restarted.registry.get("default").size == passages
