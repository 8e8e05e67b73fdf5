"""SearchService: a question in, the best FAQ entries out, with scores and bands.

Query path: normalise -> encode -> vector search (and BM25) for k × oversample passages
-> fetch passages and documents in one SQL query -> collapse to documents (hybrid:
cosines corrected for hubness, fused with BM25) -> filters -> band -> top-k. Filters are exact: they restrict the vector search to the
matching passages, so top_k results come back whenever that many entries match.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from .bands import BAND_LABELS, Band, Thresholds, band_at_least, top_bands
from .collections import CollectionRegistry
from .config import Settings
from .errors import InputTooLargeError, InvalidInputError
from .fusion import merge_scores, ranking_keys
from .lexical import LexicalIndex, LexicalScores
from .store import embeddings, repository
from .text import normalize
from .tuning import Ranking, Tuning

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
    def __init__(self, settings: Settings, encoder, sessions: sessionmaker[Session],  # type: ignore[no-untyped-def]
                 registry: CollectionRegistry | None = None) -> None:
        self.settings = settings
        self.encoder = encoder
        self.sessions = sessions
        self.registry = registry or CollectionRegistry(settings, encoder, sessions)

    @property
    def mode(self) -> str:
        return self.settings.retrieval_mode

    @property
    def thresholds(self):  # type: ignore[no-untyped-def]
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
        store = self.registry.get(name)
        tuning = self.registry.tuning(name)
        ranking = ranking or self.ranking_for(tuning)
        lexical = self.registry.lexical(name) if ranking.mode != "dense" else None
        with self.sessions() as session:
            allowed = None
            if filters.category is not None or filters.tags:
                # Exact filters: the search is restricted to the matching passages (a
                # backend with its own filter expressions gets the filter itself too).
                coll = repository.get_collection(session, name)
                allowed = np.asarray(repository.filtered_passage_ids(
                    session, coll.id, filters.category, filters.tags), dtype=np.int64)
            hits = self._collect(session, store, lexical, normalized, vector, top_k, allowed,
                                 filters, ranking)
        self._band(hits, tuning)
        hits = [h for h in hits if self._passes(h, filters)][:top_k]
        return SearchResult(query, normalized, hits, store.info.build_id or None,
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

    def _band(self, hits: list[SearchHit], tuning: Tuning) -> None:
        """Bands from each hit's cosine, read with the thresholds of the kind of passage
        it matched; ``high`` only for one unambiguous first hit."""
        each = [tuning.thresholds(h.matched_kind, self.thresholds) for h in hits]
        for hit, (band, ambiguous) in zip(hits, top_bands([h.score for h in hits], each)):
            hit.band, hit.band_label, hit.ambiguous = band, BAND_LABELS[band], ambiguous

    def _collect(self, session: Session, store, lexical: LexicalIndex | None, query: str,  # type: ignore[no-untyped-def]
                 vector: np.ndarray, top_k: int, allowed: np.ndarray | None,
                 filters: SearchFilters, ranking: Ranking) -> list[SearchHit]:
        """Search deeper until top_k distinct entries are found or the index is exhausted."""
        if allowed is not None and len(allowed) == 0:
            return []
        k = max(top_k, _MIN_DEPTH) * self.settings.oversample
        limit = store.size if allowed is None else min(store.size, len(allowed))
        bm25 = lexical.scores(query, allowed) if lexical is not None else None  # sharing a term
        while True:
            cosines = self._candidates(store, bm25, vector, k, allowed, filters, ranking.mode)
            hits = self._rank(session, store, cosines, bm25, vector, ranking)
            if len(hits) >= top_k or k >= limit:
                return hits
            k = min(k * 4, max(limit, 1))

    def _candidates(self, store, bm25: LexicalScores | None, vector: np.ndarray, k: int,  # type: ignore[no-untyped-def]
                    allowed: np.ndarray | None, filters: SearchFilters,
                    mode: str) -> dict[int, float | None]:
        """Candidate passages (id -> cosine, None when found by BM25 only) from the dense
        top k and the lexical top k of ``bm25``."""
        out: dict[int, float | None] = {}
        if mode != "lexical":
            scores, ids = store.search(vector[None, :], k, allowed,
                                       category=filters.category, tags=filters.tags)
            out = {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}
        if bm25 is not None:
            for pid, _ in bm25.top(k):
                out.setdefault(pid, None)
        return out

    def _rank(self, session: Session, store, cosines: dict[int, float | None],  # type: ignore[no-untyped-def]
              bm25: LexicalScores | None, vector: np.ndarray, ranking: Ranking) -> list[SearchHit]:
        """Collapse candidate passages to their entries and order the entries.

        Every passage of a candidate entry is scored (vectors from the embedding cache,
        BM25 from the lexical index), so an entry is judged on all its phrasings, not only
        on those that happened to reach the candidate list. In hybrid mode each passage's
        cosine is corrected for hubness before the merge (``search.hubness``); the score
        shown and its band stay the best raw cosine, the calibrated one.
        """
        space = embeddings.spaces(self.encoder)
        rows = repository.candidate_passages(session, list(cosines), space["question"],
                                             space["passage"])
        scored = self._score_passages(store, rows, cosines, vector, ranking.mode)
        lexical: dict[int, float] = {}
        if bm25 is not None:
            lexical = bm25.of([row.passage_id for found in scored.values() for *_, row in found])
        ranked = [found for found in scored.values() if found]
        keys = [(merge_scores(sorted((c for _, c, _ in found), reverse=True), self.settings.merge),
                 max(lexical.get(row.passage_id, 0.0) for *_, row in found)) for found in ranked]
        unit = max(self.thresholds.high - self.thresholds.low, 1e-3)
        rank = ranking_keys(keys, ranking.mode, ranking.weight, self.settings.fusion,
                            cosine_unit=unit)
        hits = []
        for i in np.argsort(-rank, kind="stable"):
            cos, _, row = max(ranked[i], key=lambda x: x[0])
            hits.append(self._hit(cos, row, float(rank[i])))
        return hits

    def _score_passages(self, store, rows: list[repository.CandidateRow],  # type: ignore[no-untyped-def]
                        cosines: dict[int, float | None], vector: np.ndarray,
                        mode: str) -> dict[int, list[tuple]]:
        """document id -> [(cosine, ranking cosine, row)] for all its passages."""
        found: dict[int, list] = {}
        vectors: dict[int, np.ndarray] = {}
        for row in rows:
            known = cosines.get(row.passage_id)
            if row.vector is not None:
                vectors[row.passage_id] = np.frombuffer(row.vector, np.float32)
            elif known is None:
                found.setdefault(row.document_id, [])
                continue
            cos = known if known is not None else float(vectors[row.passage_id] @ vector)
            found.setdefault(row.document_id, []).append((cos, row))
        weight = self.settings.hubness_weight if mode == "hybrid" else 0.0
        density: dict[int, float] = {}
        if weight > 0 and vectors:
            siblings: dict[int, set[int]] = {}
            for items in found.values():
                own = {r.passage_id for _, r in items}
                siblings.update((r.passage_id, own) for _, r in items)
            density = self.registry.density.densities(store, vectors, siblings, self.settings.hubness_k)
        return {d: [(cos, cos - weight * density.get(r.passage_id, 0.0), r) for cos, r in items]
                for d, items in found.items()}

    @staticmethod
    def _hit(score: float, row: repository.CandidateRow, rank_score: float) -> SearchHit:
        band: Band = "none"  # set for the whole result by _band
        return SearchHit(rank_score=round(rank_score, 6),
            id=row.document_id, external_id=row.external_id, question=row.question,
            answer=row.answer, category=row.category, tags=json.loads(row.tags_json or "[]"),
            score=round(score, 6), band=band, band_label=BAND_LABELS[band],
            matched_text=row.text, matched_kind=row.kind,
            metadata=json.loads(row.meta_json or "{}") or {})

    @staticmethod
    def _passes(hit: SearchHit, filters: SearchFilters) -> bool:
        if filters.min_score is not None and hit.score < filters.min_score:
            return False
        return filters.min_band is None or band_at_least(hit.band, filters.min_band)
