"""The running engine behind the API: model, database, indexes, batcher, refresher.

The lifespan starts it and stops it. A background thread refreshes the collections
every ``reload_interval_s`` seconds, which is how an offline reindex (a new active
build) and writes made through other workers reach this process.

With ``semsearch serve --workers N`` every worker is a separate process with its own
engine: its own database connections (opened after the worker started, never inherited),
its own change-log watermark and its own view of the memory-mapped FAISS file (the
pages are shared through the page cache). ``worker_id()`` names the process in responses.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

from indexer.writer import DocumentWriter
from search import bundled
from search.config import Settings
from search.encoder import Encoder
from search.profiles import BUNDLED_MODEL, resolve_model
from search.service import SearchService
from search.store.db import open_database

from . import metrics
from .batching import MicroBatcher

log = logging.getLogger("semsearch.api")
_HOST = socket.gethostname()


def worker_id() -> str:
    """``host/pid``: which process answered (the ``X-Semsearch-Worker`` header)."""
    return f"{_HOST}/{os.getpid()}"


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = False
        self.encoder: Encoder | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        """Blocking start-up: prepare/load the model, open the database, load indexes."""
        s = self.settings
        resolved = resolve_model(s)
        if resolved.profile.name == BUNDLED_MODEL:
            bundled.prepare(Path(resolved.source), progress=False)
        self.encoder = Encoder.from_settings(s)
        self.sessions = open_database(s.resolved_database_url)
        self.service = SearchService(s, self.encoder, self.sessions)
        self.registry = self.service.registry
        self.writer = DocumentWriter(s, self.encoder, self.sessions)
        self.batcher = MicroBatcher(self.encoder, max_wait_ms=s.batch_wait_ms,
                                    max_batch=s.batch_max_size, queue_max=s.queue_max,
                                    enabled=s.micro_batching)
        self.refresh()
        self.ready = True

    def refresh(self) -> None:
        self.registry.refresh()
        for name in self.registry.names():
            metrics.INDEX_SIZE.labels(name).set(self.registry.get(name).size)

    def start_refresher(self) -> None:
        self._thread = threading.Thread(target=self._refresh_loop, name="refresher", daemon=True)
        self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.settings.reload_interval_s):
            try:
                self.refresh()
            except Exception:  # keep serving the current builds; try again next tick
                log.exception("refresh failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self.settings.vector_store == "milvus":
            from search import milvus_store

            milvus_store.release_all()  # frees a Milvus Lite file for the next process
