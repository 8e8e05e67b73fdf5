"""The search log's writer: searches are queued on the request path and written in batches by a thread.

A search only puts a row on a bounded queue (no database work in the request); the
writer thread takes a row and whatever queues within ``LINGER_S`` after it, up to
``BATCH`` rows, and inserts them in one transaction, so a busy server writes a few
transactions a second, not one (and one commit to disk) per search.
A full queue (the database is slower than the traffic) drops the row and counts it in
``semsearch_search_log_dropped_total`` rather than slowing searches down. Once an hour
the writer deletes the entries older than ``search_log_days``.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session, sessionmaker

from search.store import searchlog

from . import metrics

log = logging.getLogger("semsearch.searchlog")
BATCH = 500
LINGER_S = 0.2  # how long a batch waits for more rows after its first
QUEUE_MAX = 10_000
PRUNE_EVERY_S = 3600.0
WAIT_FOR_OTHERS_S = 0.3  # another worker writes its rows within milliseconds


class SearchLogWriter:
    def __init__(self, sessions: sessionmaker[Session], keep_days: int) -> None:
        self.sessions, self.keep_days = sessions, keep_days
        self._queue: queue.Queue[dict | None] = queue.Queue(maxsize=QUEUE_MAX)
        self._pending: set[str] = set()  # queued, not yet written
        self._lock = threading.Lock()
        self._pruned_at: float | None = None  # the first batch prunes
        self._thread = threading.Thread(target=self._run, name="search-log", daemon=True)
        self._thread.start()

    def record(self, row: dict) -> None:
        """Queue one search (a dict of search_log's columns); never blocks."""
        with self._lock:
            self._pending.add(row["id"])
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            with self._lock:
                self._pending.discard(row["id"])
            metrics.SEARCH_LOG_DROPPED.inc()

    def knows(self, search_id: str) -> bool:
        """The search is logged, or queued to be. A search answered by another worker
        a moment ago may still be on its way: the database is asked for up to
        ``WAIT_FOR_OTHERS_S``."""
        with self._lock:
            if search_id in self._pending:
                return True
        deadline = time.monotonic() + WAIT_FOR_OTHERS_S
        while True:
            with self.sessions() as session:
                if searchlog.get(session, search_id) is not None:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def flush(self) -> None:
        """Wait until everything queued so far is written."""
        self._queue.join()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            if batch[0] is not None:
                # Sleep rather than wait on the queue: a waiting reader is woken by every
                # row put, a context switch per search on the request path's cores.
                time.sleep(LINGER_S)
            while batch[-1] is not None and len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [r for r in batch if r is not None]
            try:
                self._write(rows)
            except Exception:  # keep serving; these rows are lost, later ones may not be
                log.exception("could not write %d search log rows", len(rows))
            finally:
                with self._lock:
                    self._pending.difference_update(r["id"] for r in rows)
                for _ in batch:
                    self._queue.task_done()
            if len(rows) < len(batch):  # the stop marker
                return

    def _write(self, rows: list[dict]) -> None:
        with self.sessions.begin() as session:
            searchlog.write(session, rows)
            if self._pruned_at is None or time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
                self._pruned_at = time.monotonic()
                gone = searchlog.prune(session, datetime.now(timezone.utc)
                                       - timedelta(days=self.keep_days))
                if gone:
                    log.info("search log: deleted %d searches older than %d days", gone,
                             self.keep_days)
