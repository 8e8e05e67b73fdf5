"""Ranking documents from their dense (cosine) and lexical (BM25) scores.

Only the order changes with the mode: the band always comes from the cosine, the one
calibrated score, so a strong keyword match can lift an entry up the list but never
make a weak semantic match ``high``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RRF_K = 60  # the constant of Cormack et al.; damps the head of each ranking


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


def merge_scores(cosines: Sequence[float], merge: str) -> float:
    """One entry's dense score from its passages' cosines (sorted best first).

    ``top2`` averages the two best: an entry whose standard and similar questions both
    match is a safer answer than one matched by a single phrasing. An entry with one
    passage keeps that passage's score.
    """
    if merge == "max" or len(cosines) == 1:
        return cosines[0]
    return (cosines[0] + cosines[1]) / 2


def rank_documents(scores: Sequence[tuple[float, float]], mode: str, weight: float,
                   fusion: str = "blend", cosine_unit: float = 1.0) -> list[int]:
    """Indices of ``scores`` ((cosine, bm25) per document) from best to worst."""
    key = ranking_keys(scores, mode, weight, fusion, cosine_unit)
    return list(np.argsort(-key, kind="stable"))


def ranking_keys(scores: Sequence[tuple[float, float]], mode: str, weight: float,
                 fusion: str = "blend", cosine_unit: float = 1.0) -> np.ndarray:
    """The value each document is ranked by (higher first): its ``rank_score``.

    The blend adds the cosine counted in ``cosine_unit`` (the model's band spread, high -
    low threshold, so one weight suits models that spread cosines differently) and BM25
    as a share of the best BM25 score in ``scores``, which always holds the query's best
    lexical match. Neither depends on how many candidates were gathered, so the order of
    the first hits does not change with ``top_k``.
    """
    if not scores:
        return np.zeros(0)
    cos = np.array([s[0] for s in scores], dtype=np.float64)
    bm25 = np.array([s[1] for s in scores], dtype=np.float64)
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
