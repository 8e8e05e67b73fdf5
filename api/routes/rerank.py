"""``POST /v1/rerank``: Cohere's and Jina's rerank shape, the one Dify, FastGPT and MaxKB
accept for a rerank provider, scored by the bi-encoder (the query's cosine to each
document, clipped to 0–1)."""
from __future__ import annotations

import uuid

from fastapi import APIRouter

from search.errors import InvalidInputError

from .. import reranking
from ..compat_schemas import RerankDocument, RerankRequest, RerankResponse, RerankResult
from ..deps import EngineDep, SettingsDep
from ..schemas import ErrorResponse
from .models import serves

router = APIRouter(prefix="/v1", tags=["embeddings"],
                   responses={413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


@router.post("/rerank", response_model=RerankResponse, response_model_exclude_none=True)
async def rerank(body: RerankRequest, engine: EngineDep, settings: SettingsDep) -> RerankResponse:
    """``documents`` ranked by relevance to ``query``, best first, ``top_n`` of them."""
    profile = engine.encoder.profile
    if body.model and not serves(profile, body.model):
        raise InvalidInputError(f"model {body.model!r} is not served here; this server serves "
                                f"{profile.name!r}", {"model": profile.name})
    texts = [d if isinstance(d, str) else d.text for d in body.documents]
    ranked = await reranking.rank(engine, body.query, texts, settings.max_candidates)
    results = [RerankResult(index=i, relevance_score=reranking.relevance(score),
                            document=RerankDocument(text=texts[i]) if body.return_documents else None)
               for i, score in ranked[: body.top_n]]
    tokens = sum(engine.encoder.count_tokens([body.query, *texts])) + 2 * (len(texts) + 1)
    return RerankResponse(id=uuid.uuid4().hex, model=profile.name, results=results,
                          meta={"api_version": {"version": "2"},
                                "billed_units": {"search_units": 1}},
                          usage={"total_tokens": tokens})
