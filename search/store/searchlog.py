"""Reads and writes of the search log and of the feedback given on logged searches."""
from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, select
from sqlalchemy.orm import Session

from .models import Feedback, SearchLogEntry
from .testsets import Labelled


def write(session: Session, rows: list[dict]) -> None:
    """Insert logged searches (dicts of SearchLogEntry's columns)."""
    if rows:
        session.execute(insert(SearchLogEntry), rows)


def prune(session: Session, before: datetime) -> int:
    """Delete the searches older than ``before`` and their feedback; how many went."""
    old = select(SearchLogEntry.id).where(SearchLogEntry.created_at < before)
    session.execute(delete(Feedback).where(Feedback.search_id.in_(old)))
    done = session.execute(delete(SearchLogEntry).where(SearchLogEntry.created_at < before))
    return cast("CursorResult[Any]", done).rowcount  # a DELETE's result is typed as any result's


def get(session: Session, search_id: str) -> SearchLogEntry | None:
    return session.get(SearchLogEntry, search_id)


def add_feedback(session: Session, search_id: str, helpful: bool, entry_id: str | None,
                 comment: str | None) -> Feedback:
    row = Feedback(search_id=search_id, helpful=helpful, entry_id=entry_id, comment=comment)
    session.add(row)
    return row


def labelled_feedback(session: Session, collection: str) -> list[Labelled]:
    """The collection's feedback as labelled questions, the latest word per question: 👍
    labels the question with the entry it names (or the search's first hit), 👎 with the
    entry it names, or as one the FAQ must not answer when it names none."""
    rows = session.execute(
        select(SearchLogEntry.query, SearchLogEntry.top, Feedback.helpful, Feedback.entry_id)
        .join(Feedback, Feedback.search_id == SearchLogEntry.id)
        .where(SearchLogEntry.collection == collection).order_by(Feedback.id))
    latest: dict[str, Labelled] = {}
    for query, top, helpful, entry_id in rows:
        entry = entry_id or (top[0][0] if helpful and top else None)
        if helpful and entry is None:
            continue
        latest[query] = Labelled(query, (entry,) if entry else (), origin="feedback")
    return list(latest.values())
