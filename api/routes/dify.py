"""``POST /retrieval``: Dify's external knowledge API (also under ``SEMSEARCH_DIFY_PREFIX``).

``knowledge_id`` names the collection; the search is /v1/search's (logged, banded). Errors
have Dify's shape ``{"error_code", "error_msg"}``: 1001 bad Authorization header format and
1002 authorization failed (403), 2001 knowledge does not exist (404), and semsearch's own
3001 invalid request (422), 3002 over a limit (413), 5001 unavailable (429, 503).
"""
from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from search.errors import SemsearchError
from search.service import SearchHit

from .. import conditions
from ..compat_schemas import DifyError, DifyRecord, DifyRetrievalRequest, DifyRetrievalResponse
from ..deps import EngineDep
from ..schemas import SearchOptions
from ..shapes import shaped_route
from .search import run_searches

_CODES = {"authorization_format": 1001, "authorization_failed": 1002, "not_found": 2001}
_FETCH = 100  # entries searched when some condition is checked on the hits only


class AuthorizationFormatError(SemsearchError):
    code, http_status = "authorization_format", 403


class AuthorizationFailedError(SemsearchError):
    code, http_status = "authorization_failed", 403


def render_dify(status: int, code: str, message: str) -> JSONResponse:
    error_code = _CODES.get(code) or (3002 if status == 413 else
                                      5001 if status in (429, 503) or status >= 500 else 3001)
    return JSONResponse({"error_code": error_code, "error_msg": message}, status_code=status)


def check_bearer(request: Request) -> None:
    """``Authorization: Bearer <key>`` must be well formed; the key must be one of
    ``SEMSEARCH_API_KEYS`` when any is configured (without keys, any key is accepted)."""
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or " " in key:
        raise AuthorizationFormatError("Invalid Authorization header format. Expected "
                                       "'Bearer <api-key>' format.")
    keys = request.app.state.settings.api_key_list
    if keys and not any(secrets.compare_digest(key.encode(), k.encode()) for k in keys):
        raise AuthorizationFailedError("Authorization failed. Please check your API key.")


router = APIRouter(tags=["dify"], route_class=shaped_route(render_dify, check_bearer),
                   responses={403: {"model": DifyError}, 404: {"model": DifyError},
                              413: {"model": DifyError}, 422: {"model": DifyError},
                              503: {"model": DifyError}})


def _record(hit: SearchHit, collection: str) -> DifyRecord:
    metadata = {**(hit.metadata or {}), "entry_id": hit.external_id, "band": hit.band,
                "band_label": hit.band_label, "category": hit.category, "tags": list(hit.tags),
                "matched_text": hit.matched_text, "collection": collection}
    content = f"{hit.question}\n{hit.answer}" if hit.answer else hit.question
    return DifyRecord(content=content, score=round(min(max(hit.score, 0.0), 1.0), 6),
                      title=hit.question, metadata=metadata)


@router.post("/retrieval", response_model=DifyRetrievalResponse)
async def retrieval(body: DifyRetrievalRequest, engine: EngineDep) -> DifyRetrievalResponse:
    """The best entries of collection ``knowledge_id`` for ``query``, as Dify records."""
    setting = body.retrieval_setting
    plan = conditions.plan(body.metadata_condition)
    options = SearchOptions.model_construct(
        top_k=_FETCH if plan.beyond_filters else setting.top_k, collection=body.knowledge_id,
        category=plan.category, tags=plan.tags, min_band=None,
        min_score=setting.score_threshold or None)
    ((result, _),) = await run_searches(engine, [body.query], options, None)
    hits = [h for h in result.hits if plan.matches(h)][: setting.top_k]
    return DifyRetrievalResponse(records=[_record(h, body.knowledge_id) for h in hits])
