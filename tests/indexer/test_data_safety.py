"""Nothing is lost: an empty or shrunken source is refused, an old build brings its
entries back, and a reindex that fails (a full disk, a failure at commit) leaves the
database, the active build and the build directory as they were."""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.activate import activate
from indexer.reindex import reindex
from search.builds import active_build
from search.errors import ShrinkRefusedError, SourceError, StorageFullError
from search.service import SearchService
from search.store import repository
from search.store.db import dispose_all, open_database
from tests.conftest import FakeEncoder
from tests.indexer.test_reindex import QUIET, SAMPLE, write_source


def state(settings, sessions) -> tuple:
    """What must not change: every entry with its content hash, the active build, and
    the files of the build directory."""
    with sessions() as session:
        coll = repository.get_collection(session, "default")
        build = active_build(session, coll.id)
        hashes = repository.document_hashes(session, coll.id)
    files = sorted(p.name for p in (settings.data_dir / "builds").iterdir())
    return hashes, build.id, files


@pytest.fixture
def indexed(settings, tmp_path):
    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "faq.jsonl", SAMPLE),
            "default", console=QUIET)
    return settings, sessions


@pytest.mark.parametrize("options", [{"full": True}, {"full": True, "skip_invalid": True}, {}])
def test_an_empty_or_all_invalid_source_is_refused(indexed, tmp_path, options) -> None:
    settings, sessions = indexed
    before = state(settings, sessions)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    invalid = write_source(tmp_path / "invalid.jsonl", [{"id": "a"}, {"id": "b", "answer": "x"}])
    for source in (empty, invalid):
        with pytest.raises(SourceError, match="nothing was changed"):
            reindex(settings, sessions, FakeEncoder(), source, "default", console=QUIET, **options)
    assert state(settings, sessions) == before


def test_deleting_more_than_half_needs_allow_shrink(indexed, tmp_path) -> None:
    settings, sessions = indexed
    before = state(settings, sessions)
    kept = write_source(tmp_path / "cut.jsonl", SAMPLE[:30])  # 50 of 80 would go
    with pytest.raises(ShrinkRefusedError, match="would delete 50 of the 80 entries"):
        reindex(settings, sessions, FakeEncoder(), kept, "default", full=True, console=QUIET)
    assert state(settings, sessions) == before
    half = write_source(tmp_path / "half.jsonl", SAMPLE[:40])  # exactly half: allowed
    assert len(reindex(settings, sessions, FakeEncoder(), half, "default", full=True,
                       console=QUIET).plan.deleted) == 40
    report = reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "one.jsonl", SAMPLE[:1]),
                     "default", full=True, allow_shrink=True, console=QUIET)
    assert len(report.plan.deleted) == 39


def test_activating_an_old_build_serves_its_entries_again(indexed, tmp_path) -> None:
    settings, sessions = indexed
    encoder = FakeEncoder()
    service = SearchService(settings, encoder, sessions)
    first = service.registry.get("default").info.build_id
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    reindex(settings, sessions, encoder, empty, "default", full=True, allow_shrink=True,
            console=QUIET)  # an explicit wipe
    service.registry.refresh()
    assert service.search(SAMPLE[5]["question"], top_k=1).hits == []
    done = activate(sessions, first, settings, load_encoder=FakeEncoder)
    assert len(done.plan.new) == len(SAMPLE)
    service.registry.refresh()
    assert service.registry.get("default").info.build_id == first
    for row in SAMPLE[:10]:
        assert service.search(row["question"], top_k=1).hits[0].external_id == row["id"]
    with sessions() as session:
        passages = repository.all_passages(session, repository.get_collection(session, "default").id)
    assert service.registry.get("default").size == len(passages)


def test_a_restore_that_deletes_most_entries_needs_allow_shrink(indexed, tmp_path) -> None:
    settings, sessions = indexed
    with sessions() as session:
        small = active_build(session, repository.get_collection(session, "default").id).id
    more = SAMPLE + [{"id": f"more-{i}", "question": f"新加的第{i}个问题"} for i in range(100)]
    reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "more.jsonl", more),
            "default", console=QUIET)
    before = state(settings, sessions)
    with pytest.raises(ShrinkRefusedError, match="would delete 100 of the 180"):
        activate(sessions, small, settings, load_encoder=FakeEncoder)
    assert state(settings, sessions) == before
    assert len(activate(sessions, small, settings, load_encoder=FakeEncoder,
                        allow_shrink=True).plan.deleted) == 100


def _new_rows(n: int) -> list[dict]:
    return SAMPLE + [{"id": f"new-{i}", "question": f"全新的问题编号{i}，关于发票和退款的第{i}种情况",
                      "similar_questions": [f"第{i}种情况怎么办", f"编号{i}的问题"]} for i in range(n)]


def test_a_build_that_cannot_be_written_changes_nothing(indexed, tmp_path, monkeypatch) -> None:
    """The message FAISS gives on a full disk, injected into its writer."""
    import faiss

    settings, sessions = indexed
    before = state(settings, sessions)

    def full_disk(index, path):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("Error in void faiss::write_index(...) at impl/index_write.cpp:1021: "
                           "Error: 'ret == (n)' failed: write error in /x: 4 != 8 (No space left on device)")

    monkeypatch.setattr(faiss, "write_index", full_disk)
    with pytest.raises(StorageFullError, match=r"no space left on device while writing builds/c1-.*\.faiss"):
        reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "v2.jsonl", _new_rows(20)),
                "default", console=QUIET)
    assert state(settings, sessions) == before  # no document, no build, no file left behind


def test_a_failure_at_commit_removes_the_new_build_file(indexed, tmp_path, monkeypatch) -> None:
    from search.store import snapshots

    settings, sessions = indexed
    before = state(settings, sessions)
    monkeypatch.setattr(snapshots, "save",
                        lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(StorageFullError, match="no space left on device while writing the database"):
        reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "v2.jsonl", _new_rows(5)),
                "default", console=QUIET)
    assert state(settings, sessions) == before


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs (as root); elsewhere the fault-injected tests above stand in."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the injected-fault tests cover this path")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        dispose_all()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Fill the disk but ``leave`` bytes."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(disk / "filler", "wb") as handle:
        handle.truncate(0)
        handle.write(b"\0" * max(0, free - leave))


def test_a_reindex_on_a_full_disk_changes_nothing(small_disk: Path, tmp_path: Path) -> None:
    from indexer.sources import read_source
    from indexer.writer import DocumentWriter
    from search.config import Settings

    settings = Settings(data_dir=small_disk / "data", _env_file=None)
    sessions = open_database(settings.resolved_database_url)
    encoder = FakeEncoder(dim=384)
    reindex(settings, sessions, encoder, write_source(tmp_path / "faq.jsonl", SAMPLE), "default",
            console=QUIET)
    before = state(settings, sessions)
    source = write_source(tmp_path / "v2.jsonl", _new_rows(400))
    # 1. The database fills up while the new texts are encoded into the cache.
    fill(small_disk, leave=300_000)
    with pytest.raises(StorageFullError, match=r"while writing the database \(semsearch.db\)"):
        reindex(settings, sessions, encoder, source, "default", console=QUIET)
    assert state(settings, sessions) == before
    # 2. The vectors are cached; the disk fills up while the new index file is written.
    (small_disk / "filler").unlink()
    writer = DocumentWriter(settings, encoder, sessions)
    writer.prepare(writer.plan("default", read_source(source).entries, full=False))
    fill(small_disk, leave=1_000_000)  # the new index needs about 2.4 MB
    with pytest.raises(StorageFullError) as caught:
        reindex(settings, sessions, encoder, source, "default", console=QUIET)
    message = caught.value.message
    assert message.startswith("no space left on device while writing builds/c1-") and ".faiss" in message
    assert str(small_disk) not in message and "\n" not in message  # one line, no server path
    assert state(settings, sessions) == before  # no entry, no build, no partial file
    # 3. With room again, the same reindex goes through.
    (small_disk / "filler").unlink()
    report = reindex(settings, sessions, encoder, source, "default", console=QUIET)
    assert len(report.plan.new) == 400 and report.build is not None


def test_an_unchanged_collection_keeps_its_rows_through_json(indexed) -> None:
    """Snapshots keep each entry exactly: restoring an unchanged build writes nothing."""
    settings, sessions = indexed
    with sessions() as session:
        build = active_build(session, repository.get_collection(session, "default").id).id
    done = activate(sessions, build, settings, load_encoder=lambda: pytest.fail("no model needed"))
    assert done.plan is None or done.plan.writes == 0
    assert json.dumps(state(settings, sessions)[0])  # hashes are plain strings
