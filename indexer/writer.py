"""Apply document changes to the database: the one write path for reindex and the API.

Passages are embedded (through the cache) *before* the transaction that writes them, so
a committed passage always has its vector cached and every server can add it to its
index from the change log alone.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from search.config import Settings
from search.documents import FaqEntry, PassageSpec
from search.store import repository

from . import cache
from .expand import expand


@dataclass
class Plan:
    """What a reindex will do, by external id."""

    new: list[FaqEntry] = field(default_factory=list)
    changed: list[FaqEntry] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def writes(self) -> int:
        return len(self.new) + len(self.changed) + len(self.deleted)


class DocumentWriter:
    def __init__(self, settings: Settings, encoder, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
        self.settings = settings
        self.encoder = encoder
        self.sessions = sessions

    def passages(self, entry: FaqEntry) -> list[PassageSpec]:
        return expand(entry, self.settings.index_kind_list,
                      budget=self.encoder.passage_token_budget,
                      overlap=self.settings.chunk_overlap, count=self.encoder.count_tokens,
                      t2s=self.encoder.profile.traditional_to_simplified)

    def plan(self, collection: str, entries: Sequence[FaqEntry], *, full: bool) -> Plan:
        with self.sessions() as session:
            coll = repository.ensure_collection(session, collection)
            session.commit()
            current = repository.document_hashes(session, coll.id)
        plan = Plan()
        for entry in entries:
            known = current.get(entry.external_id)
            if known is None:
                plan.new.append(entry)
            elif known != entry.content_hash():
                plan.changed.append(entry)
            else:
                plan.unchanged += 1
        if full:
            present = {e.external_id for e in entries}
            plan.deleted = sorted(set(current) - present)
        return plan

    def apply(self, collection: str, plan: Plan,
              on_encode_start: Callable[[int], None] | None = None,
              on_encoded: Callable[[int], None] | None = None) -> int:
        """Encode what is missing, then write the whole plan in one transaction."""
        expanded = [(e, self.passages(e)) for e in plan.new + plan.changed]
        passages = [(p.kind, p.text) for _, specs in expanded for p in specs]
        encoded = cache.fill(self.sessions, self.encoder, passages, on_encode_start, on_encoded)
        with self.sessions.begin() as session:
            coll = repository.ensure_collection(session, collection)
            for entry, specs in expanded:
                repository.upsert_document(session, coll.id, entry, specs)
            for external_id in plan.deleted:
                repository.delete_document(session, coll.id, external_id)
        return encoded

    def upsert(self, collection: str, entry: FaqEntry) -> repository.WriteResult:
        specs = self.passages(entry)
        cache.fill(self.sessions, self.encoder, [(p.kind, p.text) for p in specs])
        with self.sessions.begin() as session:
            coll = repository.ensure_collection(session, collection)
            return repository.upsert_document(session, coll.id, entry, specs)

    def delete(self, collection: str, external_id: str) -> list[int]:
        with self.sessions.begin() as session:
            coll = repository.get_collection(session, collection)
            return repository.delete_document(session, coll.id, external_id)
