"""Whole FAQs in and out: export as JSON Lines, CSV or XLSX, and upload through reindex's
validation and report."""
from __future__ import annotations

import io
from datetime import date
from typing import Literal

from fastapi import APIRouter, File, Query, Response, UploadFile
from rich.console import Console
from starlette.concurrency import run_in_threadpool

from indexer.export import FORMATS, export
from indexer.reindex import checked, reindex
from indexer.sources import SUFFIXES, EntryLimits, parse_source
from indexer.writer import DocumentWriter
from search.errors import InvalidInputError
from search.store import repository

from ..deps import EngineDep, WriteAccess
from ..engine import Engine
from ..schemas import ErrorResponse

router = APIRouter(prefix="/v1/collections/{collection}", tags=["documents"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


@router.get("/export", response_class=Response,
            responses={200: {"content": {t: {} for t, _ in FORMATS.values()},
                             "description": "The collection as a file"}})
async def export_collection(collection: str, engine: EngineDep,
                            format: Literal["jsonl", "csv", "xlsx"] = Query(
                                "jsonl", description="jsonl, csv or xlsx")) -> Response:
    """Every entry of the collection as a file that upload and `semsearch reindex` read
    back as the same entries."""
    def run() -> bytes:
        with engine.sessions() as session:
            return export(session, collection, format)

    body = await run_in_threadpool(run)
    media_type, suffix = FORMATS[format]
    name = f"{collection}-{date.today().isoformat()}{suffix}"
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/upload", dependencies=[WriteAccess],
             responses={401: {"model": ErrorResponse}, 409: {"model": ErrorResponse},
                        413: {"model": ErrorResponse}})
async def upload(collection: str, engine: EngineDep,
                 file: UploadFile = File(description="A .jsonl, .csv or .xlsx FAQ file"),
                 mode: Literal["merge", "replace"] = Query(
                     "merge", description="merge: add and update the file's entries; replace: "
                     "also delete the entries the file does not hold"),
                 skip_invalid: bool = Query(False, description="Write the valid rows and "
                                            "report the rest (otherwise any invalid row "
                                            "refuses the file)"),
                 allow_shrink: bool = Query(False, description="Required to delete more "
                                            "than half of the collection in replace mode"),
                 dry_run: bool = Query(False, description="Report what would change; write "
                                       "nothing")) -> dict:
    """Bring the collection in line with an uploaded FAQ file, exactly as `semsearch
    reindex` does: nothing changes if any row is invalid; a new index build is served
    once the response is sent."""
    name = (file.filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if not name.lower().endswith(SUFFIXES):
        raise InvalidInputError(f"upload a .jsonl, .csv or .xlsx file (got {name or 'no file name'!r})",
                                {"file": name})
    raw = await file.read()
    full = mode == "replace"

    def run(e: Engine) -> dict:
        with e.sessions() as session:
            repository.get_collection(session, collection)  # 404 before any parsing
        rows = checked(parse_source(name, raw, EntryLimits.of(e.settings)), name,
                       skip_invalid=skip_invalid, allow_empty=full and allow_shrink,
                       skip_hint="skip_invalid=true")
        report = {"file": name, "mode": mode, "dry_run": dry_run, "errors": rows.errors,
                  "ignored_columns": rows.ignored_columns}
        if dry_run:
            plan = DocumentWriter(e.settings, e.encoder, e.sessions).plan(collection, rows.entries,
                                                                           full=full)
            if not allow_shrink:
                plan.refuse_shrink(collection)
            return {**report, "new": len(plan.new), "changed": len(plan.changed),
                    "deleted": len(plan.deleted), "unchanged": plan.unchanged,
                    "skipped": len(rows.errors)}
        done = reindex(e.settings, e.sessions, e.encoder, rows, collection, full=full,
                       allow_shrink=allow_shrink, console=Console(file=io.StringIO()))
        e.refresh()
        return {**report, **done.as_json()}

    return await run_in_threadpool(run, engine)
