"""``/v1/collections/{c}/audit``: near-duplicate and conflicting entries, misfiled similar
questions, unreached entries."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from search import audit

from ..deps import EngineDep
from ..schemas import ErrorResponse

router = APIRouter(prefix="/v1/collections/{collection}", tags=["audit"],
                   responses={404: {"model": ErrorResponse}, 413: {"model": ErrorResponse}})


@router.get("/audit")
async def get_audit(collection: str, engine: EngineDep) -> dict:
    """The FAQ's problems: entry pairs whose questions reach ``high`` (duplicates; those
    with different answers also as conflicts), similar questions nearer another entry
    than their own (misfiled), and the entries no logged search had as its first hit
    (unreached; null with ``unreached_reason`` when the log cannot tell)."""
    def run() -> dict:
        engine.flush_search_log()
        return audit.compute(engine.service, collection).as_json()

    return await run_in_threadpool(run)
