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

import asyncio
import gc
import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from indexer.writer import DocumentWriter
from search import bundled
from search.config import Settings
from search.encoder import Encoder
from search.errors import SemsearchError
from search.profiles import BUNDLED_MODEL, resolve_model
from search.service import SearchService
from search.store.db import open_database

from . import metrics
from .batching import MicroBatcher
from .searchlog import SearchLogWriter

log = logging.getLogger("semsearch.api")
_HOST = socket.gethostname()
# Why this process's engine could not start, for `semsearch serve` to exit non-zero.
start_failure: str | None = None


def worker_id() -> str:
    """``host/pid``: which process answered (the ``X-Semsearch-Worker`` header)."""
    return f"{_HOST}/{os.getpid()}"


class Engine:
    """Loads in the background (``start``) so that the server listens at once: ``/health``
    answers while the model loads, and every other route says 503 until it is ready."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = False
        self.failure: str | None = None  # why loading failed, for /ready and the log
        self.encoder: Encoder | None = None
        self.search_log: SearchLogWriter | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Load (in a worker thread), then start the batcher and the refresher."""
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.load)
        except Exception as exc:  # the process cannot serve: say why, then stop it
            self.failure = exc.message if isinstance(exc, SemsearchError) else f"{type(exc).__name__}: {exc}"
            log.error("start-up failed: %s", self.failure, exc_info=not isinstance(exc, SemsearchError))
            global start_failure
            start_failure = self.failure
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down as on Ctrl+C
            return
        await self.batcher.start()
        self.start_refresher()
        self.ready = True
        log.info("ready: model %s, collections %s", self.encoder.model_id, self.registry.names())

    def load(self) -> None:
        """Blocking start-up: prepare/load the model, open the database, load indexes.

        The database and the tokenizer of the lexical index are opened in a second thread
        while the model loads: both are a good part of a cold start.
        """
        s = self.settings
        resolved = resolve_model(s)
        if resolved.profile.name == BUNDLED_MODEL:
            bundled.prepare(Path(resolved.source), progress=False)
        opened: dict[str, Any] = {}
        side = threading.Thread(target=self._open_database, args=(opened,), name="open-database")
        side.start()
        self.encoder = Encoder.from_settings(s)
        side.join()
        if "error" in opened:
            raise opened["error"]
        self.sessions = opened["sessions"]
        self.service = SearchService(s, self.encoder, self.sessions)
        self.registry = self.service.registry
        self.writer = DocumentWriter(s, self.encoder, self.sessions)
        self.search_log = SearchLogWriter(self.sessions, s.search_log_days) if s.search_log else None
        self.batcher = MicroBatcher(self.encoder, max_wait_ms=s.batch_wait_ms,
                                    max_batch=s.batch_max_size, queue_max=s.queue_max,
                                    enabled=s.micro_batching)
        # What was loaded so far (the model, the tokenizers, jieba's dictionary, the
        # database's mappers) lives as long as the process: kept out of the garbage
        # collector's full passes, which would otherwise walk it all, holding the
        # interpreter lock, every few seconds under load (about 0.2 s each on the
        # bundled model). The indexes load after, and stay collectable when replaced.
        gc.collect()
        gc.freeze()
        self.refresh()

    def _open_database(self, opened: dict[str, Any]) -> None:
        try:
            opened["sessions"] = open_database(self.settings.resolved_database_url)
            if self.settings.retrieval_mode != "dense":
                from search.lexical import warm_up

                warm_up()
        except Exception as exc:  # re-raised in the loading thread
            opened["error"] = exc

    def not_ready_reasons(self) -> dict[str, str]:
        """Why this process cannot serve every collection; empty when it can."""
        if self.failure:
            return {"start-up": self.failure}
        if not self.ready:
            return {"start-up": "the model and the indexes are still loading"}
        return dict(self.registry.errors)

    def flush_search_log(self) -> None:
        """Wait until the searches this worker queued are written: what reads the log
        (insights, the audit) calls it first, so it sees the search sent just before."""
        if self.search_log is not None:
            self.search_log.flush()

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

    async def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self.ready:
            await self.batcher.stop()
        if self.search_log is not None:
            self.search_log.stop()  # writes what is queued
        if self.settings.vector_store == "milvus":
            from search import milvus_store

            milvus_store.release_all()  # frees a Milvus Lite file for the next process
