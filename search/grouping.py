"""Texts grouped by meaning: each vector joins the group whose centroid is closest, when close enough.

One pass in the caller's order (put the most frequent or most important texts first: they
found the groups). A vector joins the group whose normalised centroid it is most similar
to when that cosine is at least ``threshold``, else it starts a group of its own; the
centroid then moves to the mean of its members. The cost is one matrix-vector product per
text against the groups so far: O(n · groups · dim), about n² · dim / 2 when most texts
stand alone.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .bands import Thresholds


def group(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Indices of ``vectors`` (L2-normalised rows) per group, in the order the groups
    were founded; members in the order they came."""
    n = len(vectors)
    if n == 0:
        return []
    sums = np.zeros((n, vectors.shape[1]), dtype=np.float32)  # one row per group, at most n
    centroids = np.zeros_like(sums)
    members: list[list[int]] = []
    for i, v in enumerate(vectors.astype(np.float32, copy=False)):
        g = len(members)
        best = -1
        if g:
            similarity = centroids[:g] @ v
            best = int(np.argmax(similarity))
            if similarity[best] < threshold:
                best = -1
        if best < 0:
            best = g
            members.append([])
        members[best].append(i)
        sums[best] += v
        norm = float(np.linalg.norm(sums[best]))
        centroids[best] = sums[best] / norm if norm else sums[best]
    return members


def centroid(vectors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The normalised (weighted) mean of L2-normalised rows."""
    mean = np.average(vectors.astype(np.float32), axis=0, weights=weights).astype(np.float32)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean


def representative(vectors: np.ndarray, weights: np.ndarray | None = None) -> int:
    """The row closest to the group's centroid, each row counted ``weights`` times (how
    often its text came). Two rows alone are equally close to their plain mean, and float
    noise would pick one; counted, the text asked more often wins."""
    return int(np.argmax(vectors @ centroid(vectors, weights)))


def summarise(texts: list[str], vectors: np.ndarray, threshold: float, *,
              min_size: int = 1) -> list[dict]:
    """The groups of ``texts`` (in their order) as reported by dedup and cluster: biggest
    first, each with its size, the text nearest its centre and its members' indices and
    texts; groups smaller than ``min_size`` are left out."""
    out: list[dict[str, Any]] = []
    for members in group(vectors, threshold):
        if len(members) < min_size:
            continue
        centre = members[representative(vectors[members])]
        out.append({"size": len(members), "representative": texts[centre],
                    "indices": members, "texts": [texts[i] for i in members]})
    out.sort(key=lambda g: (-g["size"], g["indices"][0]))
    return out


def default_threshold(task: str, thresholds: Thresholds, duplicate: float | None) -> float:
    """Where texts group when no threshold is given: ``dedup`` at ``high`` or the model's
    duplicate threshold, whichever is higher; ``cluster`` (topics) at ``medium``."""
    if task == "dedup":
        return max(thresholds.high, duplicate if duplicate is not None else thresholds.high)
    return thresholds.medium
