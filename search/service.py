"""SearchService: a question in, the best FAQ entries out, with scores and bands.

Query path: normalise -> encode -> vector search (and BM25) for k × oversample passages
-> their entries and all those entries' passages from the in-memory passage table, with
their vectors from the vector store -> collapse to entries (hybrid: cosines corrected
for hubness, fused with BM25), as arrays -> band -> filters -> top-k -> one SQL query
for the fields of the hits shown. Filters are exact: they restrict the vector search to
the matching passages, so top_k results come back whenever that many entries match.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from .bands import BAND_LABELS, Band, Thresholds, band_at_least, top_bands
from .collections import CollectionRegistry, Served
from .config import RetrievalMode, Settings
from .documents import PASSAGE_KINDS
from .encoder import TextEncoder
from .errors import InputTooLargeError, InvalidInputError
from .fusion import merge_entries, ranking_keys
from .lexical import LexicalScores
from .store import repository
from .text import normalize
from .tuning import Ranking, Tuning
from .vectorstore import VectorStore

# Hybrid ranking can lift an entry from below the first few cosines, so even top_k=1
# gathers the candidates of top_k=5: the first hit does not depend on top_k.
_MIN_DEPTH = 5


@dataclass
class SearchHit:
    id: int
    external_id: str
    question: str
    answer: str
    category: str | None
    tags: list[str]
    score: float
    band: Band
    band_label: str
    matched_text: str
    matched_kind: str
    metadata: dict = field(default_factory=dict)
    ambiguous: bool = False  # another entry also reached ``high``: demoted to ``medium``
    rank_score: float = 0.0  # what the hits are ordered by (see search.fusion.ranking_keys)


@dataclass
class SearchResult:
    query: str
    normalized_query: str
    hits: list[SearchHit]
    build_id: int | None
    took_ms: float = 0.0
    thresholds: Thresholds | None = None  # what the first hit's band was read with
    ranking: Ranking | None = None  # the mode and weight the hits were ordered by


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
class SearchFilters:
    category: str | None = None
    tags: tuple[str, ...] = ()
    min_band: Band | None = None
    min_score: float | None = None


def check_query(query: object, max_chars: int, *, traditional_to_simplified: bool) -> str:
    """The normalised query, or a clear error (no model needed: the CLI checks first)."""
    if not isinstance(query, str):
        raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
    if len(query) > max_chars:
        raise InputTooLargeError(f"query is {len(query)} characters; the limit is {max_chars}",
                                 {"limit": max_chars})
    clean = normalize(query, traditional_to_simplified=traditional_to_simplified)
    if not clean:
        raise InvalidInputError("query is empty or whitespace only")
    return clean


class SearchService:
    def __init__(self, settings: Settings, encoder: TextEncoder, sessions: sessionmaker[Session],
                 registry: CollectionRegistry | None = None) -> None:
        self.settings = settings
        self.encoder = encoder
        self.sessions = sessions
        self.registry = registry or CollectionRegistry(settings, encoder, sessions)

    @property
    def mode(self) -> RetrievalMode:
        return self.settings.retrieval_mode

    @property
    def thresholds(self) -> Thresholds:
        return self.encoder.profile.thresholds

    def normalize_query(self, query: object) -> str:
        return check_query(query, self.settings.max_query_chars,
                           traditional_to_simplified=self.encoder.profile.traditional_to_simplified)

    def search(self, query: str, *, collection: str | None = None, top_k: int = 5,
               filters: SearchFilters = SearchFilters()) -> SearchResult:
        started = time.perf_counter()
        normalized = self.normalize_query(query)
        vector = self.encoder.encode_queries([normalized])[0]
        result = self.search_vector(query, normalized, vector, collection=collection,
                                    top_k=top_k, filters=filters)
        result.took_ms = (time.perf_counter() - started) * 1000
        return result

    def search_vector(self, query: str, normalized: str, vector: np.ndarray, *,
                      collection: str | None, top_k: int,
                      filters: SearchFilters = SearchFilters(),
                      ranking: Ranking | None = None) -> SearchResult:
        """``ranking`` overrides the collection's (calibration tries several)."""
        name = collection or self.settings.default_collection
        served = self.registry.served(name)
        tuning = self.registry.tuning(name)
        ranking = ranking or self.ranking_for(tuning)
        allowed = None
        if filters.category is not None or filters.tags:
            # Exact filters: the search is restricted to the matching passages (a
            # backend with its own filter expressions gets the filter itself too).
            with self.sessions() as session:
                coll = repository.get_collection(session, name)
                allowed = np.asarray(repository.filtered_passage_ids(
                    session, coll.id, filters.category, filters.tags), dtype=np.int64)
        ranked = self._collect(served, normalized, vector, top_k, allowed, filters, ranking)
        # ``high`` needs one unambiguous first hit, so every candidate is banded
        each = [tuning.thresholds(kind, self.thresholds) for kind in ranked.kinds]
        bands = top_bands(ranked.scores.tolist(), each)
        shown = [i for i, (band, _) in enumerate(bands)
                 if self._passes(float(ranked.scores[i]), band, filters)][:top_k]
        hits = self._hits(ranked, shown, bands)
        return SearchResult(query, normalized, hits, served.store.info.build_id or None,
                            thresholds=tuning.thresholds(hits[0].matched_kind if hits else "question",
                                                         self.thresholds),
                            ranking=ranking)

    def thresholds_for(self, collection: str | None, kind: str = "question") -> Thresholds:
        """The collection's own thresholds for hits matched on ``kind``, or the model's prior."""
        name = collection or self.settings.default_collection
        return self.registry.tuning(name).thresholds(kind, self.thresholds)

    def ranking_for(self, tuning: Tuning) -> Ranking:
        """The collection's fitted ranking, or the server's settings. A lexical ranking
        needs the BM25 index, which a dense-only server does not load."""
        own = tuning.ranking
        if own is not None and (own.mode == "dense" or self.registry.use_lexical):
            return own
        return Ranking(self.mode, self.settings.hybrid_weight)

    def _collect(self, served: Served, query: str, vector: np.ndarray, top_k: int,
                 allowed: np.ndarray | None, filters: SearchFilters, ranking: Ranking) -> Ranked:
        """Search deeper until top_k distinct entries are found or the index is exhausted."""
        if allowed is not None and len(allowed) == 0:
            return Ranked.empty()
        store = served.store
        k = max(top_k, _MIN_DEPTH) * self.settings.oversample
        limit = store.size if allowed is None else min(store.size, len(allowed))
        lexical = served.lexical if ranking.mode != "dense" else None
        bm25 = lexical.scores(query, allowed) if lexical is not None else None  # sharing a term
        while True:
            pids, cosines = self._candidates(store, bm25, vector, k, allowed, filters, ranking.mode)
            ranked = self._rank(served, pids, cosines, bm25, vector, ranking)
            if len(ranked) >= top_k or k >= limit:
                return ranked
            k = min(k * 4, max(limit, 1))

    @staticmethod
    def _candidates(store: VectorStore, bm25: LexicalScores | None, vector: np.ndarray, k: int,
                    allowed: np.ndarray | None, filters: SearchFilters,
                    mode: str) -> tuple[np.ndarray, np.ndarray]:
        """Candidate passage ids and their cosines (NaN when found by BM25 only), from
        the dense top k and the lexical top k of ``bm25``."""
        pids, cosines = np.zeros(0, np.int64), np.zeros(0)
        if mode != "lexical":
            scores, ids = store.search(vector[None, :], k, allowed,
                                       category=filters.category, tags=filters.tags)
            found = ids[0] >= 0
            pids, cosines = ids[0][found].astype(np.int64), scores[0][found].astype(np.float64)
        if bm25 is not None:
            lexical = np.asarray([pid for pid, _ in bm25.top(k)], np.int64)
            lexical = lexical[~np.isin(lexical, pids)]
            pids = np.concatenate([pids, lexical])
            cosines = np.concatenate([cosines, np.full(len(lexical), np.nan)])
        return pids, cosines

    def _rank(self, served: Served, pids: np.ndarray, cosines: np.ndarray,
              bm25: LexicalScores | None, vector: np.ndarray, ranking: Ranking) -> Ranked:
        """Collapse candidate passages to their entries and order the entries.

        Every passage of a candidate entry is scored (its entry's passages from the
        passage table, their vectors from the store, BM25 from the lexical index), so
        an entry is judged on all its phrasings, not only on those that happened to
        reach the candidate list. In hybrid mode each passage's cosine is corrected for
        hubness before the merge (``search.hubness``); the score shown and its band
        stay the best raw cosine, the calibrated one.
        """
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
        cos = np.where(np.isnan(cos), vectors.astype(np.float64) @ vector, cos)
        ranking_cos = cos
        weight = self.settings.hubness_weight if ranking.mode == "hybrid" else 0.0
        if weight > 0 and held.any():
            density = self.registry.density.densities(served.store, passages, vectors, owners,
                                                      self.settings.hubness_k)
            ranking_cos = cos - weight * np.where(held, density, 0.0)
        entries, dense = merge_entries(owners, ranking_cos, self.settings.merge)
        # per entry (ascending, as merge_entries): its best raw cosine, and that passage
        order = np.lexsort((passages, -cos, owners))
        starts = np.flatnonzero(np.r_[True, owners[order][1:] != owners[order][:-1]])
        best = order[starts]
        lexical = np.zeros(len(entries))
        if bm25 is not None:
            lexical = np.maximum.reduceat(bm25.at(passages)[order], starts)
        unit = max(self.thresholds.high - self.thresholds.low, 1e-3)
        rank = ranking_keys(dense, lexical, ranking.mode, ranking.weight, self.settings.fusion,
                            cosine_unit=unit)
        by_rank = np.argsort(-rank, kind="stable")
        best = best[by_rank]
        _, kinds = served.passages.lookup(passages[best])
        return Ranked(entries[by_rank], cos[best], passages[best],
                      [PASSAGE_KINDS[c] for c in kinds.tolist()], rank[by_rank])

    def _hits(self, ranked: Ranked, shown: list[int], bands: list[tuple[Band, bool]]) -> list[SearchHit]:
        """The hits ``shown`` (rows of ``ranked``), with their entries' fields: one
        query. An entry deleted since the passage table was brought up to date is left out."""
        if not shown:
            return []
        with self.sessions() as session:  # a gate's sessions read its open transaction
            rows = repository.hit_rows(session.connection(), ranked.passages[shown].tolist())
        hits = []
        for i in shown:
            row = rows.get(int(ranked.passages[i]))
            if row is None:
                continue
            band, ambiguous = bands[i]
            hits.append(SearchHit(
                id=row.document_id, external_id=row.external_id, question=row.question,
                answer=row.answer, category=row.category, tags=json.loads(row.tags_json or "[]"),
                score=round(float(ranked.scores[i]), 6), band=band, band_label=BAND_LABELS[band],
                matched_text=row.text, matched_kind=row.kind,
                metadata=json.loads(row.meta_json or "{}") or {}, ambiguous=ambiguous,
                rank_score=round(float(ranked.rank[i]), 6)))
        return hits

    @staticmethod
    def _passes(score: float, band: Band, filters: SearchFilters) -> bool:
        if filters.min_score is not None and score < filters.min_score:
            return False
        return filters.min_band is None or band_at_least(band, filters.min_band)


def _known_cosines(pids: np.ndarray, cosines: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The cosine the vector search gave each of ``wanted`` (NaN where it gave none)."""
    out = np.full(len(wanted), np.nan)
    if not len(pids):
        return out
    order = np.argsort(pids)
    at = np.searchsorted(pids[order], wanted).clip(0, len(pids) - 1)
    found = pids[order][at] == wanted
    out[found] = cosines[order][at[found]]
    return out
