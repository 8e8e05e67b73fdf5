"""SearchService: a question in, the best FAQ entries out, with scores and bands.

Query path: normalise -> encode -> the ranking (``search.ranking``: vector search and
BM25 for k × oversample passages, collapsed to entries from the in-memory passage table)
-> band -> filters -> top-k -> the fields of the hits shown (``search.hitrows``: from
memory, or one SQL query). Filters are exact: they restrict the vector search to the
matching passages, so top_k results come back whenever that many entries match.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection

from .bands import BAND_LABELS, Band, Thresholds, band_at_least, top_bands
from .collections import CollectionRegistry
from .config import RetrievalMode, Settings
from .encoder import TextEncoder
from .errors import InputTooLargeError, InvalidInputError
from .hitrows import HitRows
from .ranking import Query, Ranked, Ranker
from .store import repository
from .store.db import Sessions
from .text import normalize
from .tuning import Ranking, Tuning

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
    def __init__(self, settings: Settings, encoder: TextEncoder, sessions: Sessions,
                 registry: CollectionRegistry | None = None) -> None:
        self.settings = settings
        self.encoder = encoder
        self.sessions = sessions
        self.registry = registry or CollectionRegistry(settings, encoder, sessions)
        self.ranker = Ranker(settings, self.registry.density)
        self.hit_rows = HitRows()

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
        unit = max(self.thresholds.high - self.thresholds.low, 1e-3)
        ranked = self.ranker.collect(served, Query(normalized, vector, top_k, ranking, unit, allowed,
                                                   filters.category, filters.tags))
        # ``high`` needs one unambiguous first hit, so every candidate is banded
        of_kind = {kind: tuning.thresholds(kind, self.thresholds) for kind in set(ranked.kinds)}
        each = [of_kind[kind] for kind in ranked.kinds]
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

    def _hits(self, ranked: Ranked, shown: list[int], bands: list[tuple[Band, bool]]) -> list[SearchHit]:
        """The hits ``shown`` (rows of ``ranked``), with their entries' fields: from memory,
        or one query for the passages not held (search.hitrows)."""
        if not shown:
            return []
        rows = self.hit_rows.get(self._connection, ranked.passages[shown].tolist())
        hits = []
        for i in shown:
            row = rows.get(int(ranked.passages[i]))
            if row is None:
                continue
            band, ambiguous = bands[i]
            hits.append(SearchHit(
                id=row.document_id, external_id=row.external_id, question=row.question,
                answer=row.answer, category=row.category, tags=list(row.tags),
                score=round(float(ranked.scores[i]), 6), band=band, band_label=BAND_LABELS[band],
                matched_text=row.text, matched_kind=row.kind,
                metadata=dict(row.metadata), ambiguous=ambiguous,
                rank_score=round(float(ranked.rank[i]), 6)))
        return hits

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self.sessions() as session:  # a gate's sessions read its open transaction
            yield session.connection()

    @staticmethod
    def _passes(score: float, band: Band, filters: SearchFilters) -> bool:
        if filters.min_score is not None and score < filters.min_score:
            return False
        return filters.min_band is None or band_at_least(band, filters.min_band)
