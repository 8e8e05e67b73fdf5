"""The consistency guard: a build that does not match is refused with the reason, and a
registry already serving a good build keeps serving it."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from search.builds import active_build, identity_for, open_build
from search.errors import IndexCorruptError, IndexMismatchError, NotReadyError
from search.service import SearchService
from search.store import repository
from search.store.models import IndexBuild
from tests.conftest import FakeEncoder
from tests.indexer.test_reindex import QUIET, SAMPLE, write_source


@pytest.fixture
def built(settings, fake_encoder, tmp_path):
    from indexer.reindex import reindex
    from search.store.db import open_database

    sessions = open_database(settings.resolved_database_url)
    reindex(settings, sessions, fake_encoder, write_source(tmp_path / "a.jsonl", SAMPLE[:20]),
            "default", console=QUIET)
    with sessions() as session:
        build = active_build(session, repository.get_collection(session, "default").id)
    return settings, sessions, build


def test_model_or_dimension_mismatch_names_the_difference(built) -> None:
    settings, _, build = built
    with pytest.raises(IndexMismatchError, match="model_id: build has 'fake-model', configured 'other'"):
        open_build(build, settings.data_dir, identity_for(FakeEncoder(model_id="other")))
    with pytest.raises(IndexMismatchError, match="dim: build has 64, configured 32"):
        open_build(build, settings.data_dir, identity_for(FakeEncoder(dim=32)))


def test_flipped_bytes_are_caught_by_the_checksum(built) -> None:
    settings, _, build = built
    path = settings.data_dir / build.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="is corrupt"):
        open_build(build, settings.data_dir, identity_for(FakeEncoder()))


def test_vector_count_disagreement_is_reported(built) -> None:
    settings, sessions, build = built
    with sessions.begin() as session:
        session.execute(update(IndexBuild).values(vector_count=IndexBuild.vector_count + 1))
        build = session.get(IndexBuild, build.id)
    with pytest.raises(IndexCorruptError, match=r"holds \d+ vectors"):
        open_build(build, settings.data_dir, identity_for(FakeEncoder()))


def test_a_bad_new_build_does_not_take_down_the_good_one(built, tmp_path) -> None:
    from indexer.reindex import reindex

    settings, sessions, good = built
    encoder = FakeEncoder()
    service = SearchService(settings, encoder, sessions)
    assert service.registry.get("default").info.build_id == good.id
    reindex(settings, sessions, encoder, write_source(tmp_path / "b.jsonl", SAMPLE[:25]),
            "default", console=QUIET)
    with sessions() as session:
        bad = active_build(session, good.collection_id)
    (settings.data_dir / bad.file).write_bytes(b"not an index")
    service.registry.refresh()
    assert service.registry.get("default").info.build_id == good.id
    assert "is corrupt" in service.registry.errors["default"]
    assert service.search(SAMPLE[0]["question"], top_k=1).hits[0].external_id == SAMPLE[0]["id"]


def test_a_fresh_process_with_only_a_bad_build_says_why(built) -> None:
    settings, sessions, build = built
    (settings.data_dir / build.file).write_bytes(b"")
    service = SearchService(settings, FakeEncoder(), sessions)
    with pytest.raises(NotReadyError, match="is corrupt"):
        service.search("退款", top_k=1)
