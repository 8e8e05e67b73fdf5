"""Writing a collection out as JSON Lines, CSV or Excel (.xlsx) that reindex and upload read
back as the same entries.

JSON Lines keeps every field as it is. CSV uses the English column names of
``indexer.sources`` with similar questions and tags joined by ``|``; the workbook uses
the Chinese names (编号, 标准问题, 相似问题, …) with one similar question per line. A
similar question that itself holds ``|`` or a line break comes back split from CSV and
XLSX; JSON Lines keeps it whole. Knowledge-base articles are written as ``title, text``.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from search.store import repository
from search.store.models import Document

from .sources import COLUMNS

FORMATS: dict[str, tuple[str, str]] = {  # format: (media type, file suffix)
    "jsonl": ("application/x-ndjson", ".jsonl"),
    "csv": ("text/csv; charset=utf-8", ".csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
}
FIELDS = ("id", "question", "similar_questions", "answer", "category", "tags", "metadata")
ARTICLE_FIELDS = ("title", "text")


def rows(session: Session, collection: str) -> Iterator[dict[str, Any]]:
    """Each entry of ``collection`` as a source row, in the order they were added."""
    coll = repository.get_collection(session, collection)
    query = (select(Document).where(Document.collection_id == coll.id)
             .order_by(Document.id).execution_options(yield_per=1000))
    for doc in session.scalars(query):
        if doc.doc_type == "article":
            row: dict[str, Any] = {"id": doc.external_id, "title": doc.question, "text": doc.answer}
        else:
            row = {"id": doc.external_id, "question": doc.question, "answer": doc.answer,
                   "similar_questions": list(doc.similar_questions or [])}
        row.update(category=doc.category, tags=list(doc.tags or []), metadata=dict(doc.meta or {}))
        yield row


def export(session: Session, collection: str, fmt: str) -> bytes:
    """The collection as a file of format ``fmt`` (a key of ``FORMATS``)."""
    found = list(rows(session, collection))
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in found).encode("utf-8")
    columns = FIELDS + (ARTICLE_FIELDS if any("title" in r for r in found) else ())
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows([_cell(r.get(c), "|") for c in columns] for r in found)
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8
    if fmt == "xlsx":
        return _workbook(columns, found)
    raise ValueError(f"unknown export format {fmt!r}")


def _cell(value: Any, separator: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return separator.join(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False) if value else ""
    return str(value)


def _workbook(columns: tuple[str, ...], found: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    sheet.title = "FAQ"
    # The second name of each field is the one an FAQ spreadsheet uses (编号, 标准问题, …).
    sheet.append([COLUMNS[c][1] for c in columns])
    for row in found:
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", _cell(row.get(c), "\n")) for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    widths = {"id": 14, "question": 36, "similar_questions": 40, "answer": 60, "title": 36,
              "text": 60}
    for index, name in enumerate(columns, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = widths.get(name, 14)
        for cell in sheet[letter][1:]:
            cell.alignment = wrap
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
