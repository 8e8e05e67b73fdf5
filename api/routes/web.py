"""The web page at ``/`` (static files; it calls only the public JSON API)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)
_INDEX = Path(__file__).resolve().parents[1] / "static" / "index.html"


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(_INDEX, media_type="text/html; charset=utf-8")
