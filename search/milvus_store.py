"""Milvus as the vector store: Milvus Lite (a local ``*.db`` path) or a server/cluster.
The only module importing pymilvus (lazily).

Layout. Every index build is one Milvus collection holding all passages of a semsearch
collection: primary key = passage id, the vector, and the document's category and tags
as scalar fields, so filters run inside Milvus (``category == "…"`` and
``array_contains_all(tags, [...])``). One alias per semsearch collection points at the
active build; activation moves it. A semsearch process binds to the concrete Milvus
collection of the build the database marks active (as it would to a FAISS file) and
swaps only after the next one is loaded and caught up; a search whose collection was
pruned in between falls back to the alias.

Writes. Passage ids are never reused, so replaying the change log is idempotent: each
worker follows the log and upserts the adds it does not find, deletes the removes it
still finds, whichever worker got there first.

Consistency. Searches and existence checks run at ``milvus_consistency`` (Strong by
default): a search sees every write acknowledged before it started, whichever worker
(Milvus client) made it. Session would only promise that to the writing worker, and
Bounded lets a replica lag by the server's staleness window (seconds).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, NotReadyError
from .vectorstore import BuildInfo

if TYPE_CHECKING:
    from .config import Settings
    from .store.models import Collection

log = logging.getLogger(__name__)
MAX_TOPK = 16_384  # the most one Milvus search returns
COLLECTION_NOT_FOUND = 100
STRING_MAX = 1024  # bytes, for the category and each tag (the database allows 200 chars)
TAGS_MAX = 1024
_BATCH = 1_000
# passage id -> (category, tags), read from the database when a write is replayed
Metadata = Callable[[Sequence[int]], dict[int, tuple[str | None, list[str]]]]

# pymilvus pings every 10 s even on an idle connection; a gRPC server with the default
# policy (Milvus Lite's) answers that with GOAWAY "too_many_pings" and drops the channel.
# Ping only during calls, at the server's minimum interval (5 minutes): calls have their
# own timeout (milvus_timeout_s), which is what finds a dead server.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_timeout_ms": 20_000,
                "grpc.keepalive_permit_without_calls": 0}

LITE_BUSY = (
    "Milvus Lite at {uri} is open in another process (a running `semsearch serve`?). "
    "Milvus Lite serves one process at a time: stop that process first, or run a Milvus "
    "server (`milvus-lite server --data-dir DIR --port 19530` for development, Milvus "
    "standalone or a cluster in production) and set SEMSEARCH_MILVUS_URI=http://HOST:19530")


class VectorStoreUnavailable(NotReadyError):
    code = "vector_store_unavailable"


def is_lite(uri: str) -> bool:
    return "://" not in uri


# --- connections: one client per process and URI --------------------------------------
_clients: dict[tuple, Any] = {}
_lock = threading.Lock()


def client(settings: Settings) -> Any:
    uri = settings.resolved_milvus_uri
    key = (os.getpid(), uri, settings.milvus_token, settings.milvus_db)
    with _lock:
        if key not in _clients:
            _clients[key] = _connect(uri, settings.milvus_token, settings.milvus_db,
                                     settings.milvus_timeout_s)
        return _clients[key]


def _connect(uri: str, token: str, db: str, timeout: float) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:  # pragma: no cover - an install without the extra
        raise ConfigError("SEMSEARCH_VECTOR_STORE=milvus needs pymilvus and milvus-lite "
                          "(pip install 'semsearch[milvus]')") from exc
    if is_lite(uri):
        if not uri.endswith(".db"):
            raise ConfigError(f"SEMSEARCH_MILVUS_URI={uri!r}: a Milvus Lite path must end "
                              "in .db (or give http://HOST:19530 for a Milvus server)")
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    quiet = logging.getLogger("milvus_lite.server_manager")
    level, quiet.level = quiet.level, logging.CRITICAL  # we explain a failure ourselves
    try:
        return MilvusClient(uri=uri, token=token, db_name=db, timeout=timeout,
                            grpc_options=GRPC_OPTIONS)
    except Exception as exc:
        if is_lite(uri) and _locked_elsewhere(uri):
            raise ConfigError(LITE_BUSY.format(uri=uri)) from exc
        raise ConfigError(f"cannot connect to Milvus at {uri}: {exc}") from exc
    finally:
        quiet.level = level


def _locked_elsewhere(path: str) -> bool:
    import fcntl

    lock = Path(path) / "LOCK"
    if not lock.exists():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def release(uri: str | None = None) -> None:
    """Close this process's clients (of ``uri``, or all) and stop the Milvus Lite servers
    it started, which frees their files for other processes."""
    with _lock:
        keys = [k for k in _clients if uri is None or k[1] == uri]
        items = [(k, _clients.pop(k)) for k in keys]
        items = [(k, c) for k, c in items if k[0] == os.getpid()]
    for (_, uri, *_rest), milvus in items:
        try:
            milvus.close()
        except Exception:  # closing is best effort
            pass
        if is_lite(uri):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)


def release_all() -> None:
    release(None)


# --- names --------------------------------------------------------------------------
def alias_name(prefix: str, coll: Collection) -> str:
    """``<prefix>_<name>_<key>``: readable, and keyed on the collection row (id, name,
    creation time) so that another metadata database (an evaluation's throw-away one, a
    second deployment) sharing the Milvus server never touches this one's collections."""
    created = coll.created_at
    if created.tzinfo is not None:
        created = created.astimezone(timezone.utc).replace(tzinfo=None)
    key = hashlib.sha1(f"{coll.id}|{coll.name}|{created:%Y%m%d%H%M%S%f}".encode()).hexdigest()
    slug = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", coll.name)).strip("_")[:40]
    return f"{prefix}_{slug or f'c{coll.id}'}_{key[:8]}"


def live_name(alias: str) -> str:
    """The collection a semsearch collection uses before its first build."""
    return f"{alias}_live"


# --- filters ------------------------------------------------------------------------
def _literal(value: Any) -> str:
    # Milvus string literals take C-style escapes, which JSON's are a subset of.
    return json.dumps(value, ensure_ascii=False)


def filter_expression(category: str | None, tags: Sequence[str],
                      allowed: np.ndarray | None = None) -> str:
    parts = []
    if category is not None:
        parts.append(f"category == {_literal(category)}")
    if tags:
        parts.append(f"array_contains_all(tags, {_literal(list(dict.fromkeys(tags)))})")
    if not parts and allowed is not None:  # a caller with an id list and no filter fields
        parts.append(f"id in {_literal([int(i) for i in allowed])}")
    return " and ".join(parts)


def schema(dim: int) -> Any:
    """Passage id, vector, and the document's category and tags (for filters)."""
    from pymilvus import DataType, MilvusClient

    fields = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    fields.add_field("id", DataType.INT64, is_primary=True)
    fields.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    fields.add_field("category", DataType.VARCHAR, max_length=STRING_MAX, nullable=True)
    fields.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR,
                     max_capacity=TAGS_MAX, max_length=STRING_MAX)
    return fields


def unavailable(action: str, exc: Exception) -> VectorStoreUnavailable:
    return VectorStoreUnavailable(f"Milvus {action} failed: {getattr(exc, 'message', exc)}")


def rows(ids: Iterable[int], vectors: np.ndarray,
         meta: dict[int, tuple[str | None, list[str]]]) -> list[dict]:
    out = []
    for pid, vector in zip(ids, vectors):
        if int(pid) in meta:  # absent: deleted since it was logged; its removal follows
            category, tags = meta[int(pid)]
            out.append({"id": int(pid), "vector": np.asarray(vector, dtype=np.float32),
                        "category": category, "tags": list(dict.fromkeys(tags or []))})
    return out


def _search_params(index_kind: str, k: int) -> dict:
    if index_kind.endswith("HNSW"):
        return {"metric_type": "IP", "params": {"ef": max(64, k)}}
    if index_kind.endswith("IVF_FLAT"):
        return {"metric_type": "IP", "params": {"nprobe": 32}}
    return {"metric_type": "IP", "params": {}}


class MilvusCollectionIndex:
    """One collection's active build, as a Milvus collection other processes share."""

    def __init__(self, milvus: Any, name: str, alias: str, info: BuildInfo, *, size: int,
                 metadata: Metadata, consistency: str = "Strong", timeout: float = 30.0) -> None:
        self.client, self.name, self.alias, self.info = milvus, name, alias, info
        self.change_seq = info.change_seq  # watermark: this process applied the log to here
        self._size = size
        self._metadata = metadata
        self.consistency, self.timeout = consistency, timeout

    @property
    def size(self) -> int:
        return self._size

    def problem(self) -> str | None:
        return None  # Milvus checks its own segments; there is no file of ours to watch

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, *,
               category: str | None = None,
               tags: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids); ``category``/``tags`` run as a Milvus filter, so the
        SQL-resolved ``allowed`` list is not needed (it is used only without them)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        if allowed is not None and len(allowed) == 0:
            return scores, ids
        limit = min(k, MAX_TOPK)
        found = self._call("search", data=list(queries), limit=limit,
                           filter=filter_expression(category, tags, allowed),
                           output_fields=["id"],
                           search_params=_search_params(self.info.index_kind, limit),
                           consistency_level=self.consistency)
        for row, hits in enumerate(found):
            for col, hit in enumerate(list(hits)[:k]):
                ids[row, col], scores[row, col] = int(hit["id"]), float(hit["distance"])
        return scores, ids

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wanted = [int(i) for i in ids]
        out = np.zeros((len(wanted), self.info.dim), np.float32)
        row_of = {pid: row for row, pid in enumerate(wanted)}
        held = np.zeros(len(wanted), bool)
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start:start + _BATCH]
            for found in self._call("query", filter=f"id in {chunk}", output_fields=["id", "vector"],
                                    consistency_level=self.consistency):
                row = row_of[int(found["id"])]
                out[row], held[row] = np.asarray(found["vector"], np.float32), True
        return out, held

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Upsert the passages not already there (another worker may have added them)."""
        if len(ids) == 0:
            return
        present = self.present(ids)
        todo = [(int(i), v) for i, v in zip(ids, vectors) if int(i) not in present]
        if todo:
            batch = rows([i for i, _ in todo], np.stack([v for _, v in todo]),
                         self._metadata([i for i, _ in todo]))
            for start in range(0, len(batch), _BATCH):
                self._call("upsert", data=batch[start:start + _BATCH], by_alias=False)
        self._size = self.count()  # counts other workers' writes too

    def remove(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        present = self.present(ids)
        if present:
            self._call("delete", ids=sorted(present), by_alias=False)
        self._size = self.count()

    def present(self, ids: Iterable[int]) -> set[int]:
        """Which of ``ids`` the collection holds now."""
        wanted = [int(i) for i in ids]
        found: set[int] = set()
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start:start + _BATCH]
            got = self._call("query", filter=f"id in {chunk}", output_fields=["id"],
                             consistency_level="Strong", by_alias=False)
            found.update(int(r["id"]) for r in got)
        return found

    def count(self) -> int:
        got = self._call("query", filter="", output_fields=["count(*)"],
                         consistency_level="Strong")
        return int(got[0]["count(*)"])

    def _call(self, method: str, *, by_alias: bool = True, **kwargs: Any) -> Any:
        from pymilvus.exceptions import MilvusException

        try:
            return getattr(self.client, method)(self.name, timeout=self.timeout, **kwargs)
        except MilvusException as exc:
            if getattr(exc, "code", None) == COLLECTION_NOT_FOUND and by_alias:
                # Pruned since this process last refreshed: the alias names the active build.
                try:
                    return getattr(self.client, method)(self.alias, timeout=self.timeout,
                                                        **kwargs)
                except MilvusException as again:
                    exc = again
            raise VectorStoreUnavailable(
                f"Milvus {method} on {self.name} failed: {getattr(exc, 'message', exc)}",
                {"collection": self.name}) from exc
