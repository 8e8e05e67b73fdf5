"""Hubness correction: rank by cosine minus half each passage's neighbourhood density.

In embedding spaces some points ("hubs") sit close to very many others, so they come
out near the top for questions they do not answer: a generic "肺炎怎么治" outscores the
specific entry that a user's question paraphrases. Cross-domain similarity local
scaling (CSLS; Conneau et al., 2018, "Word translation without parallel data") ranks
by ``cos(q, d) - r(d) / 2`` instead, where ``r(d)`` is the mean cosine of ``d`` to its
``k`` nearest neighbours. Stored questions are encoded like queries, so the corpus
itself is the sample of the query space that ``r`` needs; neighbours of the same entry
(its other phrasings) are left out, or well-covered entries would pay for their
similar questions. Measured in ``bench/quality.py``.

Densities are computed with each build, for all its passages in batches
(:func:`build_densities`; a Milvus build uses a FAISS index of the same vectors in the
reindex's process), and saved beside it; a server reads them with the build.
A passage written online gets its own density when it is first a candidate (one
batched search of the store), and the densities known stay as they are until the writes
since they were computed exceed ``DRIFT`` of the index; then they are computed again as
passages reach the candidate lists (recomputing them all after every write would make
each write cost the next searches a search of the whole index per candidate; a small
collection, whose densities one write can change a lot, recomputes on every write). A
build without saved densities (an older build) starts that way too.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import npzfile
from .arrays import find_sorted

if TYPE_CHECKING:
    from .vectorstore import VectorStore

_MAX_CACHED = 200_000
DRIFT = 0.01  # changed passages, as a share of the index, that make all densities stale


def neighbour_density(scores: np.ndarray, ids: np.ndarray, own: set[int], k: int) -> float:
    """Mean of the ``k`` best scores among neighbours not in ``own`` (0 when none)."""
    keep = [s for s, i in zip(scores, ids) if i >= 0 and int(i) not in own][:k]
    return float(np.mean(keep)) if keep else 0.0


def build_densities(search: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]],
                    vectors: np.ndarray, ids: np.ndarray, documents: np.ndarray, k: int,
                    batch: int = 4096) -> np.ndarray:
    """The density of every passage of a build, as :func:`neighbour_density` computes it
    at query time: ``search(queries, depth)`` is the build's index, ``documents[i]`` the
    entry of passage ``ids[i]`` (its siblings never count)."""
    n = len(ids)
    out = np.zeros(n, np.float64)
    if n == 0:
        return out
    order = np.argsort(ids)
    sorted_ids, sorted_documents = ids[order], documents[order]
    depth = min(n, k + int(np.unique(documents, return_counts=True)[1].max()))
    for start in range(0, n, batch):
        part = slice(start, start + batch)
        scores, found = search(vectors[part], depth)
        at, _ = find_sorted(sorted_ids, found)
        neighbour = (found >= 0) & (sorted_documents[at] != documents[part, None])
        neighbour &= np.cumsum(neighbour, axis=1) <= k  # the k best of them
        count = neighbour.sum(axis=1)
        total = np.where(neighbour, scores.astype(np.float64), 0.0).sum(axis=1)
        out[part] = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return out


def save(path: Path, ids: np.ndarray, densities: np.ndarray, k: int) -> None:
    """Write a build's densities beside it."""
    npzfile.write(path, ids=ids.astype(np.int64), densities=densities, k=np.array(k))


def load(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(ids, densities, k) as :func:`save` wrote them; ``ValueError`` when damaged."""
    data = npzfile.read(path, ("ids", "densities", "k"))
    ids, densities = data["ids"], data["densities"]
    if ids.shape != densities.shape:
        raise ValueError("inconsistent arrays")
    return ids, densities, int(data["k"])


@dataclass
class _Known:
    """The densities known for one collection's loaded build."""

    version: tuple  # (the store object, its build): another means start again
    seq: int  # the change-log position they were computed at
    values: dict[tuple[int, int], float] = field(default_factory=dict)  # (k, id) -> density
    build: tuple[int, np.ndarray, np.ndarray] | None = None  # (k, sorted ids, densities)

    def of_build(self, k: int, pids: np.ndarray) -> np.ndarray:
        """The build's density of each passage id; NaN where it has none."""
        out = np.full(len(pids), np.nan)
        if self.build is None or self.build[0] != k or not len(pids) or not len(self.build[1]):
            return out
        _, ids, values = self.build
        at, hit = find_sorted(ids, pids)
        out[hit] = values[at[hit]]
        return out


class DensityCache:
    """Passage id -> density, per collection: the build's own (computed with it) and
    those computed since for passages written online, while the changes stay few."""

    def __init__(self) -> None:
        self._known: dict[int, _Known] = {}  # collection id -> its densities
        self._lock = threading.Lock()

    @staticmethod
    def _version(store: VectorStore) -> tuple[int, int]:
        return (id(store), store.info.build_id)

    def seed(self, store: VectorStore, ids: np.ndarray, densities: np.ndarray, k: int) -> None:
        """The densities saved with the build ``store`` has just loaded (before it
        catches up with the change log)."""
        order = np.argsort(ids)
        with self._lock:
            self._known[store.info.collection_id] = _Known(
                self._version(store), store.change_seq, build=(k, ids[order], densities[order]))

    def densities(self, store: VectorStore, pids: np.ndarray, vectors: np.ndarray,
                  owners: np.ndarray, k: int) -> np.ndarray:
        """Density of each passage ``pids[i]`` (vector ``vectors[i]``) over its ``k``
        nearest neighbours. ``owners[i]`` is its entry; the passages of that entry
        among ``pids`` (all of them, as a search gathers them) never count."""
        pids = np.asarray(pids, np.int64)
        version = self._version(store)
        with self._lock:
            known = self._known.get(store.info.collection_id)
            stale = (known is None or known.version != version or len(known.values) > _MAX_CACHED
                     or store.change_seq - known.seq > int(DRIFT * store.size))
            if stale:
                known = self._known[store.info.collection_id] = _Known(version, store.change_seq)
        assert known is not None
        out = known.of_build(k, pids)
        values = known.values
        missing = []
        for i in np.flatnonzero(np.isnan(out)).tolist():
            value = values.get((k, int(pids[i])))
            if value is None:
                missing.append(i)
            else:
                out[i] = value
        if missing:
            siblings = {int(o): set(pids[owners == o].tolist()) for o in np.unique(owners[missing])}
            depth = k + max(len(siblings[int(owners[i])]) for i in missing)
            queries = np.ascontiguousarray(vectors[missing], np.float32)
            scores, ids = store.search(queries, min(depth, max(store.size, 1)))
            for row, i in enumerate(missing):
                out[i] = values[(k, int(pids[i]))] = neighbour_density(
                    scores[row], ids[row], siblings[int(owners[i])], k)
        return out
