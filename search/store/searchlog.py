"""Reads and writes of the search log and of the feedback given on logged searches."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from .models import Feedback, SearchLogEntry


def write(session: Session, rows: list[dict]) -> None:
    """Insert logged searches (dicts of SearchLogEntry's columns)."""
    if rows:
        session.execute(insert(SearchLogEntry), rows)


def prune(session: Session, before: datetime) -> int:
    """Delete the searches older than ``before`` and their feedback; how many went."""
    old = select(SearchLogEntry.id).where(SearchLogEntry.created_at < before)
    session.execute(delete(Feedback).where(Feedback.search_id.in_(old)))
    return session.execute(delete(SearchLogEntry).where(SearchLogEntry.created_at < before)).rowcount


def get(session: Session, search_id: str) -> SearchLogEntry | None:
    return session.get(SearchLogEntry, search_id)


def add_feedback(session: Session, search_id: str, helpful: bool, entry_id: str | None,
                 comment: str | None) -> Feedback:
    row = Feedback(search_id=search_id, helpful=helpful, entry_id=entry_id, comment=comment)
    session.add(row)
    return row
