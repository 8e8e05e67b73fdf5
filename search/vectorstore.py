"""The vector-store interface and its FAISS implementation (Milvus: ``milvus_store``).

A loaded FAISS build is immutable (it may be memory-mapped and shared between worker
processes; mutating a mapped index aborts the process). Online writes go to a small
exact ``delta`` index beside it, and deletions to an exclusion set applied through
search parameters. The next reindex folds both into a fresh build.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import index as faiss_index
from .arrays import find_sorted


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

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, held): the stored vector of each id (what its searches score) and
        whether the store holds it (a row of zeros where it does not)."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def problem(self) -> str | None:
        """Why this store must stop serving (its build file changed), or None."""

    @property
    def size(self) -> int: ...


@dataclass(frozen=True)
class FileStamp:
    """What a build file looked like when it was loaded and verified."""

    path: Path
    shown: str  # as messages show it (relative to the data directory)
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path, shown: str) -> "FileStamp":
        st = path.stat()
        return cls(path, shown, st.st_size, st.st_mtime_ns, st.st_ino)

    def changed(self) -> str | None:
        try:
            now = FileStamp.of(self.path, self.shown)
        except OSError:
            return f"index file {self.shown} was removed after it was loaded"
        if (now.size, now.mtime_ns, now.inode) != (self.size, self.mtime_ns, self.inode):
            return (f"index file {self.shown} changed after it was loaded (size {self.size} "
                    f"-> {now.size} bytes); build files are never rewritten, so it is not "
                    "served: run `semsearch reindex SOURCE --rebuild`, or restore the file")
        return None


class FaissCollectionIndex:
    """One collection's active build plus the online changes made since it."""

    def __init__(self, base: Any, info: BuildInfo, stamp: FileStamp | None = None) -> None:
        self.base = base
        self.info = info
        self.stamp = stamp
        self.change_seq = info.change_seq  # watermark: changes up to here are applied
        self._base_ids = faiss_index.ids_of(base) if base.ntotal else np.zeros(0, np.int64)
        faiss_index.allow_reconstruct(base)
        self._delta = faiss_index.new_flat(info.dim)
        self._delta_ids: set[int] = set()
        self._removed: set[int] = set()  # ids of the base that no longer exist
        self._removed_array = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()  # guards delta and the removed set

    @property
    def size(self) -> int:
        return int(self.base.ntotal + self._delta.ntotal - len(self._removed))

    def problem(self) -> str | None:
        return self.stamp.changed() if self.stamp else None

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            faiss_index.add(self._delta, vectors, ids)
            self._delta_ids.update(int(i) for i in ids)

    def remove(self, ids: np.ndarray) -> None:
        """Forget passages: those added online leave the delta, those of the base are
        excluded from its searches. Ids held by neither (a change log can remove a
        passage it added since the build) change nothing."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        with self._lock:
            online = [int(i) for i in ids if int(i) in self._delta_ids]
            if online:
                self._delta.remove_ids(np.asarray(online, dtype=np.int64))
                self._delta_ids.difference_update(online)
            in_base = ids[find_sorted(self._base_ids, ids)[1]]
            if len(in_base):
                self._removed.update(int(i) for i in in_base)
                self._removed_array = np.sort(np.fromiter(self._removed, dtype=np.int64))

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids, dtype=np.int64)
        removed = self._removed_array  # replaced, never mutated
        in_base = find_sorted(self._base_ids, ids)[1]
        if len(removed):
            in_base &= ~find_sorted(removed, ids)[1]
        if in_base.all():
            return faiss_index.reconstruct(self.base, ids), in_base
        out = np.zeros((len(ids), self.info.dim), np.float32)
        out[in_base] = faiss_index.reconstruct(self.base, ids[in_base])
        with self._lock:
            in_delta = np.fromiter((i in self._delta_ids for i in ids.tolist()), bool, len(ids))
            if in_delta.any():
                out[in_delta] = faiss_index.reconstruct(self._delta, ids[in_delta])
        return out, in_base | in_delta

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, *,
               category: str | None = None,
               tags: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
        excluded = self._removed_array  # replaced, never mutated: safe to read unlocked
        scores, ids = faiss_index.search(self.base, queries, k, nprobe=self.info.nprobe,
                                         allowed=allowed, excluded=excluded)
        with self._lock:
            if self._delta.ntotal == 0:
                return scores, ids
            d_scores, d_ids = faiss_index.search(self._delta, queries, k, allowed=allowed)
        return _merge(scores, ids, d_scores, d_ids, k)


def _merge(s1: np.ndarray, i1: np.ndarray, s2: np.ndarray, i2: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.concatenate([s1, s2], axis=1)
    ids = np.concatenate([i1, i2], axis=1)
    scores = np.where(ids >= 0, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
