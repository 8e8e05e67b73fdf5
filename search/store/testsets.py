"""Hit-test sets: a collection's labelled questions, stored in the metadata database.

Each question names the entries that answer it, or none (it must not be answered: an
off-topic question, or one the FAQ does not cover). Teams keep such lists by hand; here
they calibrate the bands (``search.fit``) and gate a reindex (``indexer.gate``).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from ..errors import SourceError
from ..text import lone_surrogate_at, normalize
from .models import TestQuestion

MAX_QUERY_CHARS = 1000


@dataclass(frozen=True)
class Labelled:
    """One question and the external ids of the entries that answer it (empty: none)."""

    query: str
    expected: tuple[str, ...] = ()
    origin: str = "import"

    @property
    def answerable(self) -> bool:
        return bool(self.expected)

    def as_json(self) -> dict[str, Any]:
        if not self.expected:
            return {"query": self.query, "expected": "none"}
        return {"query": self.query, "expected_ids": list(self.expected)}


@dataclass
class Parsed:
    questions: list[Labelled] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_row(row: Any) -> Labelled:
    """One JSON row: ``{"query", "expected_ids": [...]}`` or ``{"query", "expected":
    "none"}``; also ``expected_id`` (null: none) and ``relevant_ids`` as evaluation sets
    write them."""
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    query = row.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("'query' must be a non-empty string")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"'query' is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
    if lone_surrogate_at(row):
        raise ValueError("the row holds a lone UTF-16 surrogate (invalid Unicode)")
    if not normalize(query):  # blank or control characters only: no question to search
        raise ValueError("'query' is empty after normalisation")
    if "expected_ids" in row or "relevant_ids" in row:
        ids = row.get("expected_ids", row.get("relevant_ids"))
    elif "expected" in row:
        ids = [] if row["expected"] in ("none", None) else row["expected"]
    elif "expected_id" in row:
        ids = [] if row["expected_id"] is None else [row["expected_id"]]
    else:
        raise ValueError("name the answer: 'expected_ids': [...], or 'expected': 'none'")
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise ValueError("expected ids must be non-empty strings")
    return Labelled(query.strip(), tuple(dict.fromkeys(ids)))


def read_file(path: Path) -> Parsed:
    """JSON Lines of labelled questions; every bad line is reported as ``file:line``."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    parsed = Parsed()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.errors.append(f"{path}:{number}: not a JSON object ({exc.msg} at column "
                                 f"{exc.colno}); each line is one JSON object")
            continue
        try:
            parsed.questions.append(parse_row(row))
        except ValueError as exc:
            parsed.errors.append(f"{path}:{number}: {exc}")
    return parsed


def replace_all(session: Session, collection_id: int, questions: Iterable[Labelled]) -> int:
    """Make ``questions`` the collection's whole set; returns its size."""
    session.execute(delete(TestQuestion).where(TestQuestion.collection_id == collection_id))
    return add(session, collection_id, questions)


def add(session: Session, collection_id: int, questions: Iterable[Labelled]) -> int:
    """Add or relabel questions (a question already in the set gets the new answer)."""
    existing = {q.query: q for q in session.scalars(
        select(TestQuestion).where(TestQuestion.collection_id == collection_id))}
    count = 0
    for question in {q.query: q for q in questions}.values():
        row = existing.get(question.query)
        if row is None:
            session.add(TestQuestion(collection_id=collection_id, query=question.query,
                                     expected=list(question.expected), origin=question.origin))
        else:
            row.expected, row.origin = list(question.expected), question.origin
        count += 1
    session.flush()
    return count


def remove(session: Session, collection_id: int, query: str) -> bool:
    done = session.execute(delete(TestQuestion).where(TestQuestion.collection_id == collection_id,
                                                      TestQuestion.query == query))
    return bool(cast("CursorResult[Any]", done).rowcount)  # a DELETE's result is typed as any result's


def load(session: Session, collection_id: int) -> list[Labelled]:
    rows = session.scalars(select(TestQuestion).where(TestQuestion.collection_id == collection_id)
                           .order_by(TestQuestion.id))
    return [Labelled(r.query, tuple(r.expected or ()), r.origin) for r in rows]


def count(session: Session, collection_id: int) -> tuple[int, int]:
    """(questions, of which answerable)."""
    query = select(TestQuestion.expected).where(TestQuestion.collection_id == collection_id)
    rows: Sequence[list] = session.execute(query).scalars().all()
    return len(rows), sum(1 for expected in rows if expected)

