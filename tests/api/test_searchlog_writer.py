"""The search log's background writer: rows queued on the request path reach the
database in batches, a full queue drops rather than blocks, and old entries are pruned."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from api import metrics, searchlog as writer_module
from api.searchlog import SearchLogWriter
from search.store.db import open_database
from search.store.models import Feedback, SearchLogEntry


def row(days_old: float = 0) -> dict:
    return {"id": uuid.uuid4().hex, "created_at": datetime.now(timezone.utc) - timedelta(days=days_old),
            "collection": "default", "query": "问", "normalized_query": "问", "top": [],
            "top_band": "none", "took_ms": 1.0, "user": None, "vector": None}


def count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(SearchLogEntry))


def test_queued_rows_are_written_and_known(settings) -> None:
    sessions = open_database(settings.resolved_database_url)
    log = SearchLogWriter(sessions, keep_days=90)
    rows = [row() for _ in range(1200)]
    for r in rows:
        log.record(r)
    assert log.knows(rows[-1]["id"])  # queued or written: feedback on it is accepted
    log.flush()
    assert count(sessions) == 1200 and log.knows(rows[0]["id"]) and not log.knows("f" * 32)
    log.stop()


def test_a_full_queue_drops_and_counts_instead_of_blocking(settings, monkeypatch) -> None:
    import threading
    import time

    sessions = open_database(settings.resolved_database_url)
    monkeypatch.setattr(writer_module, "QUEUE_MAX", 2)
    monkeypatch.setattr(writer_module, "LINGER_S", 0.0)
    log = SearchLogWriter(sessions, keep_days=90)
    writing, release = threading.Event(), threading.Event()

    def slow_database(rows: list[dict]) -> None:
        writing.set()
        release.wait(10)
    monkeypatch.setattr(log, "_write", slow_database)
    before = metrics.SEARCH_LOG_DROPPED._value.get()
    log.record(row())
    assert writing.wait(10)  # the writer holds the first row and waits on the database
    started = time.perf_counter()
    for _ in range(9):
        log.record(row())
    assert time.perf_counter() - started < 5  # recording never waited for the database (10 s)
    assert metrics.SEARCH_LOG_DROPPED._value.get() - before == 7  # two fit in the queue
    release.set()
    log.stop()


def test_entries_older_than_the_retention_are_pruned_with_their_feedback(settings) -> None:
    sessions = open_database(settings.resolved_database_url)
    old, new = row(days_old=10), row()
    with sessions.begin() as session:
        session.add(Feedback(search_id=old["id"], helpful=False))
    log = SearchLogWriter(sessions, keep_days=7)
    log.record(old)
    log.flush()  # the first batch prunes (older than 7 days: the row just written)
    log.record(new)
    log.flush()
    log.stop()
    with sessions() as session:
        kept = set(session.scalars(select(SearchLogEntry.id)))
        assert kept == {new["id"]}
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0


def test_rows_that_trickle_in_share_a_transaction(settings) -> None:
    """Searches arrive one at a time: the writer waits a moment for more before it
    commits, instead of one transaction (and disk sync) per search."""
    import time

    sessions = open_database(settings.resolved_database_url)
    log = SearchLogWriter(sessions, keep_days=90)
    batches: list[int] = []
    write = log._write
    log._write = lambda rows: (batches.append(len(rows)), write(rows))  # type: ignore[method-assign]
    for _ in range(20):
        log.record(row())
        time.sleep(0.005)  # 200 searches a second
    log.flush()
    assert count(sessions) == 20 and len(batches) <= 3, batches
    log.stop()
