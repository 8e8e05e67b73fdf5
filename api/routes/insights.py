"""``/v1/collections/{c}/insights``: what users asked and missed, and carrying out a suggestion."""
from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from indexer import insights as apply_insights
from search import insights

from ..deps import EngineDep, WriteAccess
from ..engine import Engine
from ..schemas import ApplyIn, ErrorResponse

router = APIRouter(prefix="/v1/collections/{collection}", tags=["insights"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
SINCE = Query(None, max_length=40, description="7d, 24h, or an ISO date/time (UTC); default: all kept")
UNTIL = Query(None, max_length=40, description="Same forms; default: now")


@router.get("/insights")
async def get_insights(collection: str, engine: EngineDep, since: str | None = SINCE,
                       until: str | None = UNTIL) -> dict:
    """Searches per day and band shares, the most-hit entries, and the unanswered
    questions grouped by meaning, biggest first, each with a suggestion."""
    window = insights.parse_time(since), insights.parse_time(until)

    def run() -> dict:
        engine.flush_search_log()
        return insights.compute(engine.service, collection, *window).as_json()

    return await run_in_threadpool(run)


@router.post("/insights/apply", dependencies=[WriteAccess])
async def apply(collection: str, body: ApplyIn, engine: EngineDep) -> dict:
    """Carry out one group's suggestion (or the other action); the next search sees it."""
    window = insights.parse_time(body.since), insights.parse_time(body.until)

    def run(e: Engine) -> dict:
        e.flush_search_log()
        done = apply_insights.apply(e.service, e.writer, collection, body.group_id, body.action,
                                    entry_id=body.entry_id, answer=body.answer,
                                    since=window[0], until=window[1])
        e.refresh()
        return done.as_json()

    return await run_in_threadpool(run, engine)
