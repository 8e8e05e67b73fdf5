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


def _minmax(values: np.ndarray) -> np.ndarray:
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 0 else np.zeros_like(values)


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
                   fusion: str = "blend") -> list[int]:
    """Indices of ``scores`` ((cosine, bm25) per document) from best to worst."""
    if not scores:
        return []
    cos = np.array([s[0] for s in scores], dtype=np.float64)
    bm25 = np.array([s[1] for s in scores], dtype=np.float64)
    if mode == "dense":
        key = cos
    elif mode == "lexical":
        key = bm25 + 1e-6 * cos  # cosine only breaks ties
    elif fusion == "rrf":
        key = (1 - weight) / (RRF_K + _ranks(cos)) + weight / (RRF_K + _ranks(bm25))
    else:  # blend of both scores min-max scaled over this query's candidates
        key = (1 - weight) * _minmax(cos) + weight * _minmax(bm25)
    return list(np.argsort(-key, kind="stable"))
