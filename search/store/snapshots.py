"""Build snapshots: the entries a collection held when a build was made.

A build's vectors alone cannot bring back entries deleted since (the database, not the
index, is the source of truth), so each build keeps the entries it was made from, and
activating it again restores them (``indexer.build.activate``).
"""
from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..documents import FaqEntry
from .models import BuildSnapshot, Document


@dataclass
class Snapshot:
    """A build's entries, each with the content hash it was stored under."""

    entries: list[FaqEntry]
    digests: dict[str, str]  # external id -> stored content hash


def entries_of(session: Session, collection_id: int) -> Snapshot:
    """Every entry of a collection as it is stored, by external id."""
    rows = session.execute(
        select(Document.external_id, Document.question, Document.answer,
               Document.similar_questions, Document.category, Document.tags, Document.meta,
               Document.doc_type, Document.content_hash)
        .where(Document.collection_id == collection_id).order_by(Document.external_id))
    entries, digests = [], {}
    for r in rows:
        entries.append(FaqEntry(external_id=r[0], question=r[1], answer=r[2] or "",
                                similar_questions=list(r[3] or []), category=r[4],
                                tags=list(r[5] or []), metadata=dict(r[6] or {}), doc_type=r[7]))
        digests[r[0]] = r[8]
    return Snapshot(entries, digests)


def save(session: Session, build_id: int, collection_id: int) -> int:
    """Record the collection's entries for ``build_id``; returns how many."""
    snapshot = entries_of(session, collection_id)
    lines = "".join(json.dumps({"entry": asdict(e), "digest": snapshot.digests[e.external_id]},
                               ensure_ascii=False) + "\n" for e in snapshot.entries)
    session.add(BuildSnapshot(build_id=build_id, entries=len(snapshot.entries),
                              content=gzip.compress(lines.encode("utf-8"), compresslevel=5)))
    return len(snapshot.entries)


def load(session: Session, build_id: int) -> Snapshot | None:
    """The entries ``build_id`` was made from; None for a build without a snapshot."""
    row = session.get(BuildSnapshot, build_id)
    if row is None:
        return None
    rows = [json.loads(line) for line in gzip.decompress(row.content).decode("utf-8").splitlines()
            if line]
    entries = [FaqEntry(**r["entry"]) for r in rows]
    return Snapshot(entries, {e.external_id: r["digest"] for e, r in zip(entries, rows)})
