"""``POST /v1/feedback``: a user's verdict on a logged search."""
from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from search.errors import NotFoundError
from search.store import searchlog

from ..deps import EngineDep
from ..engine import Engine
from ..schemas import ErrorResponse, FeedbackIn

router = APIRouter(prefix="/v1", tags=["feedback"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


def _save(engine: Engine, body: FeedbackIn) -> None:
    log = engine.search_log
    if log is None:
        raise NotFoundError("the search log is off (SEMSEARCH_SEARCH_LOG=false), so searches "
                            "have no search_id to give feedback on")
    if not log.knows(body.search_id):
        raise NotFoundError(f"no logged search {body.search_id!r} (searches are kept "
                            f"{engine.settings.search_log_days} days)")
    with engine.sessions.begin() as session:
        searchlog.add_feedback(session, body.search_id, body.helpful, body.entry_id, body.comment)


@router.post("/feedback", status_code=204, response_class=Response)
async def feedback(body: FeedbackIn, engine: EngineDep) -> Response:
    """Was the search helpful? 👎 with the entry that was right (``entry_id``), or without
    one when no entry fits."""
    await run_in_threadpool(_save, engine, body)
    return Response(status_code=204)
