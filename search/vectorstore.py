"""The vector-store interface and its FAISS implementation (Milvus: ``milvus_store``).

A loaded FAISS build is immutable (it may be memory-mapped and shared between worker
processes; mutating a mapped index aborts the process). Online writes go to a small
exact ``delta`` index beside it, and deletions to an exclusion set applied through
search parameters. The next reindex folds both into a fresh build.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from . import index as faiss_index


@dataclass(frozen=True)
class BuildInfo:
    """What a loaded build recorded about itself (mirrors the ``index_builds`` row)."""

    build_id: int
    collection_id: int
    model_id: str
    dim: int
    index_kind: str
    nprobe: int
    vector_count: int
    change_seq: int


class VectorStore(Protocol):
    """What the search service needs from a vector backend (FAISS or Milvus)."""

    info: BuildInfo
    change_seq: int

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, *,
               category: str | None = None,
               tags: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids). ``allowed`` lists the passage ids matching the filters;
        a backend with its own filter expressions may use ``category``/``tags`` instead."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    @property
    def size(self) -> int: ...


class FaissCollectionIndex:
    """One collection's active build plus the online changes made since it."""

    def __init__(self, base: Any, info: BuildInfo) -> None:
        self.base = base
        self.info = info
        self.change_seq = info.change_seq  # watermark: changes up to here are applied
        self._delta = faiss_index.new_flat(info.dim)
        self._removed: set[int] = set()
        self._removed_array = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()  # guards delta and the removed set

    @property
    def size(self) -> int:
        return int(self.base.ntotal + self._delta.ntotal - len(self._removed))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            faiss_index.add(self._delta, vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            self._removed.update(int(i) for i in ids)
            self._removed_array = np.fromiter(self._removed, dtype=np.int64)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, *,
               category: str | None = None,
               tags: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
        excluded = self._removed_array  # replaced, never mutated: safe to read unlocked
        scores, ids = faiss_index.search(self.base, queries, k, nprobe=self.info.nprobe,
                                         allowed=allowed, excluded=excluded)
        with self._lock:
            if self._delta.ntotal == 0:
                return scores, ids
            d_scores, d_ids = faiss_index.search(self._delta, queries, k, allowed=allowed,
                                                 excluded=excluded)
        return _merge(scores, ids, d_scores, d_ids, k)


def _merge(s1: np.ndarray, i1: np.ndarray, s2: np.ndarray, i2: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.concatenate([s1, s2], axis=1)
    ids = np.concatenate([i1, i2], axis=1)
    scores = np.where(ids >= 0, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
