"""``POST /v1/dedup`` and ``POST /v1/cluster``: any list of texts grouped by meaning."""
from __future__ import annotations

import numpy as np
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from search import grouping
from search.errors import InputTooLargeError

from ..deps import EngineDep
from ..engine import Engine
from ..schemas import ErrorResponse, GroupTextsIn, GroupTextsOut, TextGroup

router = APIRouter(prefix="/v1", tags=["texts"],
                   responses={413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


async def _grouped(engine: Engine, body: GroupTextsIn, task: str, min_size: int) -> GroupTextsOut:
    limit = engine.settings.max_group_texts
    if len(body.texts) > limit:
        raise InputTooLargeError(f"{len(body.texts)} texts; the limit is {limit}", {"limit": limit})
    thresholds = engine.service.thresholds_for(body.collection)
    threshold = body.threshold if body.threshold is not None else grouping.default_threshold(
        task, thresholds, engine.encoder.profile.duplicate)
    normalized = [engine.service.normalize_query(t) for t in body.texts]
    vectors = np.asarray(await engine.batcher.encode(normalized, "query"), dtype=np.float32)
    groups = await run_in_threadpool(grouping.summarise, body.texts, vectors, threshold,
                                     min_size=min_size)  # up to n² dot products: off the loop
    return GroupTextsOut(threshold=threshold, texts=len(body.texts),
                         groups=[TextGroup(**g) for g in groups])


@router.post("/dedup", response_model=GroupTextsOut)
async def dedup(body: GroupTextsIn, engine: EngineDep) -> GroupTextsOut:
    """Groups of near-duplicates (two texts or more), at the ``high`` threshold or the
    model's duplicate threshold, whichever is higher, unless ``threshold`` is given.
    Cost: one encoding per text, then about n² · dim / 2."""
    return await _grouped(engine, body, "dedup", 2)


@router.post("/cluster", response_model=GroupTextsOut)
async def cluster(body: GroupTextsIn, engine: EngineDep) -> GroupTextsOut:
    """Topic groups, biggest first, each with the text nearest its centre, at the
    ``medium`` threshold unless ``threshold`` is given."""
    return await _grouped(engine, body, "cluster", 1)
