"""text-embeddings-inference's HTTP API: ``POST /embed``, ``/similarity``, ``/rerank``,
``/tokenize``, ``GET /info`` and the default ``POST /`` (embed, or similarity when
``inputs`` is an object), for TEI clients such as huggingface_hub's InferenceClient.

Errors have TEI's shape ``{"error", "error_type"}``: Validation (413 over a limit, 422
invalid), Overloaded (429), Unhealthy (503 while loading), Backend (other 5xx).
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from search.errors import InputTooLargeError, InvalidInputError

from .. import reranking
from ..compat_schemas import (TeiDefaultRequest, TeiEmbedRequest, TeiEncodeOptions, TeiError,
                              TeiRank, TeiRerankRequest, TeiSimilarityInput, TeiSimilarityRequest,
                              TeiToken, TeiTokenizeRequest)
from ..deps import EngineDep, SettingsDep
from ..engine import Engine
from ..shapes import shaped_route
from .embeddings import check_texts, similarity_scores

VERSION = "1.7.1"  # the TEI API version these routes follow


def render_tei(status: int, code: str, message: str) -> JSONResponse:
    kind = ("Overloaded" if status == 429 else "Unhealthy" if status == 503 else
            "Backend" if status >= 500 else "Validation")
    return JSONResponse({"error": message, "error_type": kind}, status_code=status)


_ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": TeiError} for s in (413, 422, 429, 503)}
router = APIRouter(tags=["text-embeddings-inference"], route_class=shaped_route(render_tei),
                   responses=_ERRORS)


async def _embed(engine: Engine, inputs: str | list[str], options: TeiEncodeOptions,
                 normalize: bool, limit: int) -> list[list[float]]:
    if not normalize:
        raise InvalidInputError("normalize=false is not supported: semsearch returns "
                                "L2-normalised vectors (dot product = cosine)")
    role = reranking.role_of(options.prompt_name)
    texts = reranking.check_passages(engine, inputs, limit)
    reranking.check_length(engine, texts, role, options.truncate)
    return (await engine.batcher.encode(texts, role)).tolist()


async def _similarity(engine: Engine, inputs: TeiSimilarityInput,
                      options: TeiEncodeOptions | None, limit: int) -> list[float]:
    source = check_texts(engine, [inputs.source_sentence], 1, "sources")
    sentences = check_texts(engine, inputs.sentences, limit, "sentences")
    truncate = options.truncate if options else False
    reranking.check_length(engine, source + sentences, "query", truncate)
    return [round(float(s), 6) for s in await similarity_scores(engine, source[0], sentences)]


@router.post("/embed", response_model=list[list[float]])
async def embed(body: TeiEmbedRequest, engine: EngineDep, settings: SettingsDep) -> Any:
    """One L2-normalised vector per input (a single string gives one row too)."""
    return await _embed(engine, body.inputs, body, body.normalize, settings.max_candidates)


@router.post("/similarity", response_model=list[float])
async def similarity(body: TeiSimilarityRequest, engine: EngineDep, settings: SettingsDep) -> Any:
    """The cosine of ``source_sentence`` to each of ``sentences``, in input order."""
    return await _similarity(engine, body.inputs, body.parameters, settings.max_candidates)


@router.post("/", response_model=list[list[float]] | list[float])
async def default(body: TeiDefaultRequest, engine: EngineDep, settings: SettingsDep) -> Any:
    """TEI's default route: embed, or similarity when ``inputs`` has ``source_sentence``.
    Options may come in ``parameters`` (as huggingface_hub sends them)."""
    if isinstance(body.inputs, TeiSimilarityInput):
        return await _similarity(engine, body.inputs, body.parameters or body,
                                 settings.max_candidates)
    options = body.parameters or body
    return await _embed(engine, body.inputs, options, options.normalize, settings.max_candidates)


@router.post("/rerank", response_model=list[TeiRank], response_model_exclude_none=True)
async def rerank(body: TeiRerankRequest, engine: EngineDep, settings: SettingsDep) -> Any:
    """``texts`` ranked by their cosine to ``query`` (the bi-encoder's), best first."""
    ranked = await reranking.rank(engine, body.query, body.texts, settings.max_candidates,
                                  body.truncate)
    return [TeiRank(index=i, score=round(s, 6) if body.raw_scores else reranking.relevance(s),
                    text=body.texts[i] if body.return_text else None) for i, s in ranked]


@router.post("/tokenize", response_model=list[list[TeiToken]])
async def tokenize(body: TeiTokenizeRequest, engine: EngineDep, settings: SettingsDep) -> Any:
    """The model's tokens of each input as sent (before semsearch's text normalisation),
    with the role's prefix when ``prompt_name`` is given; ``start``/``stop`` are character
    offsets (none for special tokens)."""
    inputs = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    if len(inputs) > settings.max_candidates:
        raise InputTooLargeError(f"{len(inputs)} inputs; the limit is {settings.max_candidates}",
                                 {"limit": settings.max_candidates})
    role = reranking.role_of(body.prompt_name) if body.prompt_name else None
    prefix = engine.encoder.profile.prefix(role) if role else ""
    tokenizer = engine.encoder.tokenizer
    out = []
    for text in inputs:
        text = prefix + text
        enc = tokenizer.encode(text, add_special_tokens=body.add_special_tokens)
        out.append([TeiToken(id=i, text=token, special=True, start=None, stop=None) if special
                    else TeiToken(id=i, text=text[a:b], special=False, start=a, stop=b)
                    for i, token, special, (a, b) in zip(enc.ids, enc.tokens,
                                                         enc.special_tokens_mask, enc.offsets)])
    return out


@router.get("/info")
async def info(engine: EngineDep, settings: SettingsDep) -> dict:
    """TEI's description of the served model."""
    encoder = engine.encoder
    return {"model_id": encoder.model_id, "model_sha": None,
            "model_dtype": {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16",
                            "int8": "int8"}.get(encoder.precision, encoder.precision),
            "model_type": {"embedding": {"pooling": encoder.profile.pooling}},
            "max_concurrent_requests": settings.queue_max,
            "max_input_length": encoder.profile.max_length,
            "max_batch_tokens": encoder.max_batch_tokens,
            "max_batch_requests": settings.batch_max_size,
            "max_client_batch_size": settings.max_candidates,
            "auto_truncate": False, "tokenization_workers": 1, "version": VERSION,
            "sha": None, "docker_label": None}
