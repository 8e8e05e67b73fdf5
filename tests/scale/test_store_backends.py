"""The metadata store on SQLite and on PostgreSQL: migrations, the write path and its
change log, the embedding cache's bulk and concurrent inserts, and a reindex + search
with writes followed by a second process's registry."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import inspect, text

from indexer.reindex import reindex
from indexer.writer import DocumentWriter
from search.documents import FaqEntry, PassageSpec
from search.service import SearchService
from search.store import embeddings, repository
from search.store.db import make_engine, open_database, upgrade
from tests.conftest import FakeEncoder
from tests.indexer.test_reindex import QUIET, SAMPLE, write_source
from tests.scale.conftest import make_settings

DATABASES = ["sqlite", "postgres"]


@pytest.fixture(params=DATABASES)
def settings(request, tmp_path, postgres):
    return make_settings(tmp_path, postgres, request.param, "faiss")


def test_migrations_create_the_schema_and_are_idempotent(settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    tables = set(inspect(engine).get_table_names())
    assert {"collections", "documents", "document_tags", "passages", "changes", "index_builds",
            "embedding_cache", "alembic_version"} <= tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()


def test_writes_log_changes_and_passage_ids_are_never_reused(settings) -> None:
    sessions = open_database(settings.resolved_database_url)
    specs = [PassageSpec("question", 0, "退款多久到账"), PassageSpec("similar", 1, "钱几天退回来")]
    with sessions.begin() as session:
        coll = repository.ensure_collection(session, "default")
        first = repository.upsert_document(session, coll.id, FaqEntry("a", "退款多久到账", tags=["t"]), specs,
                                           "v1")
    with sessions.begin() as session:
        removed = repository.delete_document(session, coll.id, "a")
    with sessions.begin() as session:
        again = repository.upsert_document(session, coll.id, FaqEntry("a", "退款多久到账", tags=["t"]), specs,
                                           "v1")
    assert removed == first.added and min(again.added) > max(first.added)
    with sessions() as session:
        log = repository.changes_since(session, coll.id, 0)
        assert [op for _, _, op in log] == ["add", "add", "remove", "remove", "add", "add"]
        assert [s for s, _, _ in log] == sorted(s for s, _, _ in log)
        assert repository.filtered_passage_ids(session, coll.id, None, ["t"]) == again.added


def test_the_embedding_cache_keeps_the_first_vector_and_takes_big_batches(settings) -> None:
    sessions = open_database(settings.resolved_database_url)
    texts = [f"问题{i}" for i in range(3000)]
    with sessions.begin() as session:
        embeddings.store(session, "m", texts, np.ones((3000, 4), dtype=np.float32))
    with sessions.begin() as session:  # the same texts again, other vectors: ignored
        embeddings.store(session, "m", texts[:10] + ["新的"], np.zeros((11, 4), dtype=np.float32))
    with sessions() as session:
        found = embeddings.lookup(session, "m", [embeddings.text_hash(t) for t in texts + ["新的"]])
    assert len(found) == 3001 and found[embeddings.text_hash("问题0")][0] == 1.0


def test_concurrent_writers_of_the_same_cache_rows_do_not_fail(settings) -> None:
    sessions = open_database(settings.resolved_database_url)
    texts = [f"并发{i}" for i in range(200)]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write() -> None:
        try:
            start.wait()
            with sessions.begin() as session:
                embeddings.store(session, "m", texts, np.ones((200, 4), dtype=np.float32))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with sessions() as session:
        assert len(embeddings.lookup(session, "m", [embeddings.text_hash(t) for t in texts])) == 200


def test_reindex_search_and_a_second_process_following_writes(settings, tmp_path) -> None:
    sessions = open_database(settings.resolved_database_url)
    report = reindex(settings, sessions, FakeEncoder(), write_source(tmp_path / "a.jsonl", SAMPLE),
                     "default", console=QUIET)
    assert report.build is not None and report.build.vectors > len(SAMPLE)
    one = SearchService(settings, FakeEncoder(), sessions)
    other = SearchService(settings, FakeEncoder(), sessions)
    assert one.search(SAMPLE[7]["question"], top_k=1).hits[0].external_id == SAMPLE[7]["id"]
    other.registry.get("default")
    DocumentWriter(settings, FakeEncoder(), sessions).upsert(
        "default", FaqEntry("pg-1", "发票能开公司抬头吗", category="支付"))
    other.registry.refresh()  # what its refresher thread does every reload_interval_s
    assert other.search("发票能开公司抬头吗", top_k=1).hits[0].external_id == "pg-1"
