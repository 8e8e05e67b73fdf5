"""``POST /v1/similarity`` and the OpenAI-compatible ``POST /v1/embeddings``."""
from __future__ import annotations

import base64
import time

import numpy as np
from fastapi import APIRouter

from search.bands import BAND_LABELS
from search.encoder import validate_texts
from search.errors import InputTooLargeError, InvalidInputError

from ..deps import EngineDep, SettingsDep
from ..engine import Engine
from ..schemas import (EmbeddingItem, EmbeddingsRequest, EmbeddingsResponse, ErrorResponse,
                       SimilarityRequest, SimilarityResponse, SimilarityScore, Usage)
from .models import serves

router = APIRouter(prefix="/v1", tags=["embeddings"], responses={422: {"model": ErrorResponse}})


def check_texts(engine: Engine, texts: object, limit: int, what: str) -> list[str]:
    """Validate a list of texts against the request limits; returns normalised texts."""
    texts = validate_texts(texts)
    if len(texts) > limit:
        raise InputTooLargeError(f"{len(texts)} {what}; the limit is {limit}", {"limit": limit})
    return [engine.service.normalize_query(t) for t in texts]


async def similarity_scores(engine: Engine, source: str, candidates: list[str]) -> np.ndarray:
    """The source as a query and the candidates as stored questions, exactly as a search
    scores them, so that the bands mean the same thing here as in search."""
    query = await engine.batcher.encode([source], "query")
    questions = await engine.batcher.encode(candidates, "question")
    return questions @ query[0]


@router.post("/similarity", response_model=SimilarityResponse)
async def similarity(body: SimilarityRequest, engine: EngineDep,
                     settings: SettingsDep) -> SimilarityResponse:
    """Cosine similarity of ``source`` to each candidate, in input order, with bands."""
    started = time.perf_counter()
    source = check_texts(engine, [body.source], 1, "sources")[0]
    candidates = check_texts(engine, body.candidates, settings.max_candidates, "candidates")
    scores = await similarity_scores(engine, source, candidates)
    thresholds = engine.service.thresholds
    rows = []
    for i, (text, score) in enumerate(zip(body.candidates, scores.tolist())):
        band = thresholds.band(score)
        rows.append(SimilarityScore(index=i, text=text, score=round(score, 6), band=band,
                                    band_label=BAND_LABELS[band]))
    return SimilarityResponse(source=body.source, scores=rows, thresholds=thresholds.as_dict(),
                              model=engine.encoder.model_id,
                              took_ms=round((time.perf_counter() - started) * 1000, 3))


def _check_model(engine: Engine, requested: str | None) -> None:
    """Any name of the served model, in any case (see GET /v1/models), or none."""
    profile = engine.encoder.profile
    if requested and not serves(profile, requested):
        raise InvalidInputError(f"model {requested!r} is not served here; this server serves "
                                f"{profile.name!r}", {"model": profile.name})


@router.post("/embeddings", response_model=EmbeddingsResponse)
async def embeddings(body: EmbeddingsRequest, engine: EngineDep,
                     settings: SettingsDep) -> EmbeddingsResponse:
    """OpenAI-compatible embeddings (L2-normalised, so dot product = cosine)."""
    _check_model(engine, body.model)
    if body.dimensions is not None and body.dimensions != engine.encoder.dim:
        raise InvalidInputError(f"dimensions={body.dimensions} is not supported; this model "
                                f"returns {engine.encoder.dim}", {"dimension": engine.encoder.dim})
    texts = check_texts(engine, body.input, settings.max_candidates, "inputs")
    vectors = await engine.batcher.encode(texts, body.input_type)
    tokens = sum(engine.encoder.count_tokens(texts)) + 2 * len(texts)
    data = []
    for i, vector in enumerate(vectors):
        if body.encoding_format == "base64":
            value: list[float] | str = base64.b64encode(
                np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
        else:
            value = vector.tolist()
        data.append(EmbeddingItem(index=i, embedding=value))
    return EmbeddingsResponse(data=data, model=engine.encoder.model_id,
                              usage=Usage(prompt_tokens=tokens, total_tokens=tokens))
