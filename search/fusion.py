"""Ranking documents from their dense (cosine) and lexical (BM25) scores.

Only the order changes with the mode: the band always comes from the cosine, the one
calibrated score, so a strong keyword match can lift an entry up the list but never
make a weak semantic match ``high``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .arrays import group_starts

RRF_K = 60  # the constant of Cormack et al.; damps the head of each ranking


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


def merge_entries(entries: np.ndarray, cosines: np.ndarray,
                  merge: str) -> tuple[np.ndarray, np.ndarray]:
    """(entry ids ascending, the dense score of each) from passages' ``cosines``, each
    passage of entry ``entries[i]``.

    ``top2`` averages the two best: an entry whose standard and similar questions both
    match is a safer answer than one matched by a single phrasing. An entry with one
    passage keeps that passage's score; ``max`` keeps the best.
    """
    if not len(entries):
        return np.zeros(0, np.int64), np.zeros(0)
    order = np.lexsort((-cosines, entries))
    grouped, values = entries[order], np.asarray(cosines, np.float64)[order]
    starts = group_starts(grouped)
    best = values[starts]
    if merge == "max":
        return grouped[starts], best
    second_at = np.minimum(starts + 1, len(values) - 1)
    second = np.where(grouped[second_at] == grouped[starts], values[second_at], best)
    return grouped[starts], (best + second) / 2


def rank_documents(scores: Sequence[tuple[float, float]], mode: str, weight: float,
                   fusion: str = "blend", cosine_unit: float = 1.0) -> list[int]:
    """Indices of ``scores`` ((cosine, bm25) per document) from best to worst."""
    pairs = np.asarray(scores, dtype=np.float64).reshape(-1, 2)
    key = ranking_keys(pairs[:, 0], pairs[:, 1], mode, weight, fusion, cosine_unit)
    return np.argsort(-key, kind="stable").tolist()


def ranking_keys(cos: np.ndarray, bm25: np.ndarray, mode: str, weight: float,
                 fusion: str = "blend", cosine_unit: float = 1.0) -> np.ndarray:
    """The value each document is ranked by (higher first): its ``rank_score``, from
    its dense score ``cos`` and its ``bm25``.

    The blend adds the cosine counted in ``cosine_unit`` (the model's band spread, high -
    low threshold, so one weight suits models that spread cosines differently) and BM25
    as a share of the best BM25 score in ``bm25``, which always holds the query's best
    lexical match. Neither depends on how many candidates were gathered, so the order of
    the first hits does not change with ``top_k``.
    """
    cos = np.asarray(cos, dtype=np.float64)
    bm25 = np.asarray(bm25, dtype=np.float64)
    if not len(cos):
        return np.zeros(0)
    if mode == "dense":
        key = cos
    elif mode == "lexical":
        key = bm25 + 1e-6 * cos  # cosine only breaks ties
    elif fusion == "rrf":
        key = (1 - weight) / (RRF_K + _ranks(cos)) + weight / (RRF_K + _ranks(bm25))
    else:
        best = bm25.max()
        lexical = bm25 / best if best > 0 else np.zeros_like(bm25)
        key = (1 - weight) * cos / cosine_unit + weight * lexical
    return key
