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

Densities are computed when a passage first reaches a candidate list, by one batched
search of the store, and kept for the build while online writes are few: a passage
written online gets its own density when it is first a candidate, while the densities
already known stay as they are until the writes since they were computed exceed
``DRIFT`` of the index (recomputing them all after every write would make each write
cost the next searches a search of the whole index per candidate; a small collection,
whose densities one write can change a lot, recomputes on every write).
"""
from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np

_MAX_CACHED = 200_000
DRIFT = 0.01  # changed passages, as a share of the index, that make all densities stale


def neighbour_density(scores: np.ndarray, ids: np.ndarray, own: set[int], k: int) -> float:
    """Mean of the ``k`` best scores among neighbours not in ``own`` (0 when none)."""
    keep = [s for s, i in zip(scores, ids) if i >= 0 and int(i) not in own][:k]
    return float(np.mean(keep)) if keep else 0.0


class DensityCache:
    """Passage id -> density, for the build it was computed on (and few changes since)."""

    def __init__(self) -> None:
        self._version: tuple | None = None
        self._seq = 0  # the change-log position the densities were computed at
        self._values: dict[tuple[int, int], float] = {}  # (k, passage id) -> density
        self._lock = threading.Lock()

    def densities(self, store, vectors: Mapping[int, np.ndarray],  # type: ignore[no-untyped-def]
                  siblings: Mapping[int, set[int]], k: int) -> dict[int, float]:
        """Density of each passage in ``vectors`` over its ``k`` nearest neighbours;
        ``siblings[pid]`` holds the passage ids of its own entry (itself included),
        which never count as neighbours."""
        version = (id(store), store.info.build_id)
        with self._lock:
            drifted = store.change_seq - self._seq > int(DRIFT * store.size)
            if version != self._version or drifted or len(self._values) > _MAX_CACHED:
                self._version, self._values, self._seq = version, {}, store.change_seq
            values = self._values
        missing = [pid for pid in vectors if (k, pid) not in values]
        if missing:
            depth = k + max(len(siblings[pid]) for pid in missing)
            queries = np.stack([vectors[pid] for pid in missing]).astype(np.float32)
            scores, ids = store.search(queries, min(depth, max(store.size, 1)))
            for row, pid in enumerate(missing):
                values[(k, pid)] = neighbour_density(scores[row], ids[row], siblings[pid], k)
        return {pid: values[(k, pid)] for pid in vectors}
