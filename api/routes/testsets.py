"""A collection's hit-test set and its band thresholds, over HTTP."""
from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from indexer import bands
from search.bands import Thresholds
from search.errors import InvalidInputError, NotFoundError
from search.store import repository, testsets
from search.tuning import tuning_from_json

from ..deps import EngineDep, WriteAccess
from ..engine import Engine
from ..schemas import (BandsIn, BandsOut, ErrorResponse, TestQuestionIn, TestSetIn,
                       TestSetOut)

router = APIRouter(prefix="/v1/collections/{collection}", tags=["hit tests"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


def _set(engine: Engine, collection: str) -> TestSetOut:
    with engine.sessions() as session:
        coll_id = repository.get_collection(session, collection).id
        questions = testsets.load(session, coll_id)
    return TestSetOut(collection=collection, count=len(questions),
                      answerable=sum(q.answerable for q in questions),
                      questions=[TestQuestionIn(query=q.query, expected_ids=list(q.expected))
                                 for q in questions])


def _labelled(i: int, question: TestQuestionIn) -> testsets.Labelled:
    """A question checked as an imported file's rows are."""
    try:
        labelled = testsets.parse_row({"query": question.query, "expected_ids": question.expected_ids})
    except ValueError as exc:
        raise InvalidInputError(f"questions[{i}]: {exc}") from None
    return replace(labelled, origin="api")


@router.get("/testset", response_model=TestSetOut)
async def get_testset(collection: str, engine: EngineDep) -> TestSetOut:
    """The labelled test questions of a collection."""
    return await run_in_threadpool(_set, engine, collection)


@router.post("/testset", response_model=TestSetOut, dependencies=[WriteAccess])
async def add_to_testset(collection: str, body: TestSetIn, engine: EngineDep) -> TestSetOut:
    """Add questions (a question already in the set is relabelled), or replace the set."""
    def write() -> TestSetOut:
        questions = [_labelled(i, q) for i, q in enumerate(body.questions)]
        with engine.sessions.begin() as session:
            coll_id = repository.get_collection(session, collection).id
            (testsets.replace_all if body.replace else testsets.add)(session, coll_id, questions)
        return _set(engine, collection)

    return await run_in_threadpool(write)


@router.delete("/testset", status_code=204, dependencies=[WriteAccess])
async def remove_from_testset(collection: str, engine: EngineDep,
                              query: str = Query(..., min_length=1)) -> Response:
    """Remove one question from the set."""
    def remove() -> None:
        with engine.sessions.begin() as session:
            coll_id = repository.get_collection(session, collection).id
            if not testsets.remove(session, coll_id, query):
                raise NotFoundError(f"{query!r} is not in the hit-test set of {collection!r}")

    await run_in_threadpool(remove)
    return Response(status_code=204)


def _bands(engine: Engine, collection: str) -> BandsOut:
    with engine.sessions() as session:
        stored = repository.get_collection(session, collection).bands or {}
    tuning = tuning_from_json(stored)
    prior = engine.service.thresholds
    return BandsOut(collection=collection, source=stored.get("source", "model"),
                    thresholds=tuning.thresholds("question", prior).as_dict(),
                    passage_thresholds=tuning.thresholds("answer", prior).as_dict(),
                    ranking=engine.service.ranking_for(tuning).as_dict(),
                    report=stored.get("report") or {})


@router.get("/bands", response_model=BandsOut)
async def get_bands(collection: str, engine: EngineDep) -> BandsOut:
    """The thresholds the collection is banded with: its own, or the model's prior."""
    return await run_in_threadpool(_bands, engine, collection)


@router.put("/bands", response_model=BandsOut, dependencies=[WriteAccess])
async def set_bands(collection: str, body: BandsIn, engine: EngineDep) -> BandsOut:
    """Set the collection's thresholds by hand (``semsearch calibrate --collection`` fits
    them): for question matches, and optionally (``passages``) for answer and chunk
    matches. A fitted ranking is kept. Searches use them from the next refresh on."""
    thresholds = Thresholds(body.high, body.medium, body.low, body.margin)
    passages = body.passages and Thresholds(body.passages.high, body.passages.medium,
                                            body.passages.low, body.passages.margin)

    def write() -> BandsOut:
        bands.store(engine.sessions, engine.settings, collection, thresholds, "manual",
                    passages=passages, keep_ranking=True)
        engine.refresh()
        return _bands(engine, collection)

    return await run_in_threadpool(write)


@router.delete("/bands", status_code=204, dependencies=[WriteAccess])
async def reset_bands(collection: str, engine: EngineDep) -> Response:
    """Go back to the model's prior thresholds."""
    def write() -> None:
        bands.store(engine.sessions, engine.settings, collection, None, "model")
        engine.refresh()

    await run_in_threadpool(write)
    return Response(status_code=204)
