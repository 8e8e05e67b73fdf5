"""``POST /v1/search`` and ``POST /v1/search/batch``."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import numpy as np

from fastapi import APIRouter

from search.errors import InputTooLargeError
from search.service import SearchFilters, SearchResult

from .. import metrics
from ..deps import EngineDep, SettingsDep
from ..engine import Engine
from ..schemas import (BatchSearchRequest, BatchSearchResponse, ErrorResponse, SearchOptions,
                       SearchRequest, SearchResponse)

router = APIRouter(prefix="/v1", tags=["search"],
                   responses={422: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})


def _filters(options: SearchOptions) -> SearchFilters:
    return SearchFilters(options.category, tuple(options.tags), options.min_band,
                         options.min_score)


def _response(engine: Engine, result: SearchResult, search_id: str | None = None) -> SearchResponse:
    metrics.record_top_band(result.hits[0].band if result.hits else None)
    return SearchResponse(search_id=search_id,
        query=result.query, normalized_query=result.normalized_query,
        hits=[vars(h) for h in result.hits],  # the model copies them; asdict would deep-copy first
        thresholds=(result.thresholds or engine.service.thresholds).as_dict(),
        model=engine.encoder.model_id,
        build_id=result.build_id, took_ms=round(result.took_ms, 3))


def _log(engine: Engine, options: SearchOptions, user: str | None, results: list[SearchResult],
         vectors: np.ndarray) -> list[str | None]:
    """Queue each search on the search log; their search_ids (None when the log is off)."""
    if engine.search_log is None:
        return [None] * len(results)
    collection = options.collection or engine.settings.default_collection
    ids = []
    for result, vector in zip(results, vectors):
        search_id = uuid.uuid4().hex
        engine.search_log.record({
            "id": search_id, "created_at": datetime.now(timezone.utc), "collection": collection,
            "query": result.query, "normalized_query": result.normalized_query,
            "top": [[h.external_id, round(h.score, 6)] for h in result.hits[:3]],
            "top_band": result.hits[0].band if result.hits else "none",
            "took_ms": round(result.took_ms, 3), "user": user,
            "vector": np.asarray(vector, dtype=np.float32).tobytes()})
        ids.append(search_id)
    return ids


async def run_searches(engine: Engine, queries: list[str], options: SearchOptions,
                       user: str | None) -> list[tuple[SearchResult, str | None]]:
    """Encode, search and log each query as /v1/search does (the Dify route too)."""
    started = time.perf_counter()
    normalized = [engine.service.normalize_query(q) for q in queries]
    filters = _filters(options)

    def search_all(vectors: np.ndarray) -> tuple[list[SearchResult], np.ndarray]:
        return [engine.service.search_vector(q, n, v, collection=options.collection,
                                             top_k=options.top_k, filters=filters)
                for q, n, v in zip(queries, normalized, vectors)], vectors

    results, vectors = await engine.batcher.encode_then(normalized, "query", search_all)
    took = (time.perf_counter() - started) * 1000
    for r in results:
        r.took_ms = took
    return list(zip(results, _log(engine, options, user, results, vectors)))


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, engine: EngineDep) -> SearchResponse:
    """Top-k FAQ entries for one question, with cosine scores and bands."""
    ((result, search_id),) = await run_searches(engine, [body.query], body, body.user)
    return _response(engine, result, search_id)


@router.post("/search/batch", response_model=BatchSearchResponse)
async def search_batch(body: BatchSearchRequest, engine: EngineDep,
                       settings: SettingsDep) -> BatchSearchResponse:
    """The same search for several questions in one request."""
    if len(body.queries) > settings.max_batch_queries:
        raise InputTooLargeError(f"{len(body.queries)} queries; the limit is "
                                 f"{settings.max_batch_queries}", {"limit": settings.max_batch_queries})
    started = time.perf_counter()
    results = await run_searches(engine, body.queries, body, body.user)
    return BatchSearchResponse(results=[_response(engine, r, i) for r, i in results],
                               took_ms=round((time.perf_counter() - started) * 1000, 3))
