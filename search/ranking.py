"""One query's candidates, collapsed to their entries and ordered: the ranking, as arrays.

Candidates come from the vector store's top k and BM25's top k. Every passage of a
candidate entry is then scored (the entry's passages from the passage table, their
vectors from the store, BM25 from the lexical index), so an entry is judged on all its
phrasings, not only on those that happened to reach the candidate list. In hybrid mode
each passage's cosine is corrected for hubness before the merge (``search.hubness``),
and the merged score is blended with BM25 (``search.fusion``); the score shown and its
band stay the best raw cosine, the calibrated one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import find_sorted, group_starts
from .collections import Served
from .config import Settings
from .documents import PASSAGE_KINDS
from .fusion import merge_entries, ranking_keys
from .hubness import DensityCache
from .lexical import LexicalScores
from .tuning import Ranking
from .vectorstore import VectorStore

# Hybrid ranking can lift an entry from below the first few cosines, so even top_k=1
# gathers the candidates of top_k=5: the first hit does not depend on top_k.
MIN_DEPTH = 5


@dataclass
class Ranked:
    """Candidate entries in rank order, one row each: the entry, its best raw cosine,
    the passage that cosine is of and its kind, and the value the entries are ranked by."""

    entries: np.ndarray
    scores: np.ndarray
    passages: np.ndarray
    kinds: list[str]
    rank: np.ndarray

    @classmethod
    def empty(cls) -> Ranked:
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), [], np.zeros(0))

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class Query:
    """What the ranking needs of one search."""

    text: str  # normalised
    vector: np.ndarray
    top_k: int
    ranking: Ranking
    cosine_unit: float  # the model's band spread (high - low), the blend's unit of cosine
    allowed: np.ndarray | None = None  # passage ids matching the filters (None: all)
    category: str | None = None  # the filters themselves, for a store that runs them
    tags: tuple[str, ...] = ()


class Ranker:
    def __init__(self, settings: Settings, density: DensityCache) -> None:
        self.settings, self.density = settings, density

    def collect(self, served: Served, query: Query) -> Ranked:
        """Search deeper until top_k distinct entries are found or the index is exhausted."""
        if query.allowed is not None and len(query.allowed) == 0:
            return Ranked.empty()
        store = served.store
        k = max(query.top_k, MIN_DEPTH) * self.settings.oversample
        limit = store.size if query.allowed is None else min(store.size, len(query.allowed))
        lexical = served.lexical if query.ranking.mode != "dense" else None
        bm25 = lexical.scores(query.text, query.allowed) if lexical is not None else None
        while True:
            pids, cosines = _candidates(store, bm25, query, k)
            ranked = self._rank(served, pids, cosines, bm25, query)
            if len(ranked) >= query.top_k or k >= limit:
                return ranked
            k = min(k * 4, max(limit, 1))

    def _rank(self, served: Served, pids: np.ndarray, cosines: np.ndarray,
              bm25: LexicalScores | None, query: Query) -> Ranked:
        """Collapse candidate passages to their entries and order the entries."""
        owners, _ = served.passages.lookup(pids)
        entries = np.unique(owners[owners >= 0])  # a passage written since is not yet held
        if not len(entries):
            return Ranked.empty()
        passages, owners = served.passages.passages_of(entries)
        vectors, held = served.store.vectors(passages)
        cos = _known_cosines(pids, cosines, passages)
        keep = held | ~np.isnan(cos)  # the store may lag the table by a write
        passages, owners, vectors, cos, held = (passages[keep], owners[keep], vectors[keep],
                                                cos[keep], held[keep])
        unknown = np.isnan(cos)  # passages the vector search did not return
        if unknown.any():
            cos[unknown] = vectors[unknown].astype(np.float64) @ query.vector
        ranking_cos = cos
        weight = self.settings.hubness_weight if query.ranking.mode == "hybrid" else 0.0
        if weight > 0 and held.any():
            density = self.density.densities(served.store, passages, vectors, owners,
                                              self.settings.hubness_k)
            ranking_cos = cos - weight * np.where(held, density, 0.0)
        entries, dense = merge_entries(owners, ranking_cos, self.settings.merge)
        # per entry (ascending, as merge_entries): its best raw cosine, and that passage
        order = np.lexsort((passages, -cos, owners))
        starts = group_starts(owners[order])
        best = order[starts]
        lexical = np.zeros(len(entries))
        if bm25 is not None:
            lexical = np.maximum.reduceat(bm25.at(passages)[order], starts)
        rank = ranking_keys(dense, lexical, query.ranking.mode, query.ranking.weight,
                            self.settings.fusion, cosine_unit=query.cosine_unit)
        by_rank = np.argsort(-rank, kind="stable")
        best = best[by_rank]
        _, kinds = served.passages.lookup(passages[best])
        return Ranked(entries[by_rank], cos[best], passages[best],
                      [PASSAGE_KINDS[c] for c in kinds.tolist()], rank[by_rank])


def _candidates(store: VectorStore, bm25: LexicalScores | None, query: Query,
                k: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate passage ids and their cosines (NaN when found by BM25 only), from the
    dense top k and the lexical top k of ``bm25``."""
    pids, cosines = np.zeros(0, np.int64), np.zeros(0)
    if query.ranking.mode != "lexical":
        scores, ids = store.search(query.vector[None, :], k, query.allowed,
                                   category=query.category, tags=query.tags)
        found = ids[0] >= 0
        pids, cosines = ids[0][found].astype(np.int64), scores[0][found].astype(np.float64)
    if bm25 is not None:
        dense = set(pids.tolist())
        lexical = np.asarray([pid for pid, _ in bm25.top(k) if pid not in dense], np.int64)
        pids = np.concatenate([pids, lexical])
        cosines = np.concatenate([cosines, np.full(len(lexical), np.nan)])
    return pids, cosines


def _known_cosines(pids: np.ndarray, cosines: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The cosine the vector search gave each of ``wanted`` (NaN where it gave none)."""
    out = np.full(len(wanted), np.nan)
    if not len(pids):
        return out
    order = np.argsort(pids)
    at, found = find_sorted(pids[order], wanted)
    out[found] = cosines[order][at[found]]
    return out
