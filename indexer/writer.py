"""Apply document changes to the database: the one write path for reindex and the API.

Passages are embedded (through the cache) *before* the transaction that writes them, so
a committed passage always has its vector cached and every server can add it to its
index from the change log alone. A reindex writes its changes in the same transaction
as the build that serves them (``indexer.reindex``): either both land or neither does.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from search.config import Settings
from search.documents import FaqEntry, PassageSpec
from search.encoder import TextEncoder
from search.errors import ShrinkRefusedError
from search.store import repository
from search.store.db import storage_errors

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

    @property
    def existing(self) -> int:
        """Entries the collection holds before the plan runs."""
        return self.unchanged + len(self.changed) + len(self.deleted)

    def refuse_shrink(self, collection: str) -> None:
        """Deleting more than half of a collection is refused: an empty or cut-off export
        would otherwise wipe it."""
        if self.deleted and 2 * len(self.deleted) > self.existing:
            raise ShrinkRefusedError(
                f"this would delete {len(self.deleted)} of the {self.existing} entries of "
                f"{collection!r} (more than half); nothing was changed: check the source, or "
                "pass --allow-shrink if that is what you want",
                {"deleted": len(self.deleted), "existing": self.existing})


@dataclass
class Prepared:
    """A plan with its entries expanded into passages whose vectors are cached."""

    plan: Plan
    expanded: list[tuple[FaqEntry, list[PassageSpec]]]
    encoded: int


class DocumentWriter:
    def __init__(self, settings: Settings, encoder: TextEncoder, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.encoder = encoder
        self.sessions = sessions

    @property
    def expansion(self) -> str:
        """How entries become passages here; part of each stored entry's hash."""
        from search.text import normalization_version

        return (f"|{normalization_version(self.encoder.profile.traditional_to_simplified)}"
                f"|{self.settings.index_kinds}|{self.encoder.passage_token_budget}"
                f"|{self.settings.chunk_overlap}")

    def digest(self, entry: FaqEntry) -> str:
        return entry.content_hash(self.expansion)

    def passages(self, entry: FaqEntry) -> list[PassageSpec]:
        return expand(entry, self.settings.index_kind_list,
                      budget=self.encoder.passage_token_budget,
                      overlap=self.settings.chunk_overlap, count=self.encoder.count_tokens,
                      t2s=self.encoder.profile.traditional_to_simplified)

    def plan(self, collection: str, entries: Sequence[FaqEntry], *, full: bool) -> Plan:
        """Compare ``entries`` with the collection (which may not exist yet)."""
        with self.sessions() as session:
            coll = repository.find_collection(session, collection)
            current = repository.document_hashes(session, coll.id) if coll else {}
        plan = Plan()
        for entry in entries:
            known = current.get(entry.external_id)
            if known is None:
                plan.new.append(entry)
            elif known != self.digest(entry):
                plan.changed.append(entry)
            else:
                plan.unchanged += 1
        if full:
            present = {e.external_id for e in entries}
            plan.deleted = sorted(set(current) - present)
        return plan

    def prepare(self, plan: Plan, on_encode_start: Callable[[int], None] | None = None,
                on_encoded: Callable[[int], None] | None = None) -> Prepared:
        """Expand the new and changed entries and encode what the cache lacks."""
        expanded = [(e, self.passages(e)) for e in plan.new + plan.changed]
        passages = [(p.kind, p.text) for _, specs in expanded for p in specs]
        with storage_errors(self.settings.database_label):
            encoded = cache.fill(self.sessions, self.encoder, passages, on_encode_start,
                                 on_encoded)
        return Prepared(plan, expanded, encoded)

    def write(self, session: Session, collection_id: int, prepared: Prepared) -> None:
        """Write a prepared plan inside the caller's transaction: new entries in bulk,
        changed ones one by one (their old passages go first)."""
        new = {id(e) for e in prepared.plan.new}
        repository.insert_documents(session, collection_id,
                                    [(e, specs, self.digest(e)) for e, specs in prepared.expanded
                                     if id(e) in new])
        for entry, specs in prepared.expanded:
            if id(entry) not in new:
                repository.upsert_document(session, collection_id, entry, specs, self.digest(entry))
        for external_id in prepared.plan.deleted:
            repository.delete_document(session, collection_id, external_id)

    def apply(self, collection: str, plan: Plan) -> int:
        """Prepare and write a plan in one transaction (creating the collection)."""
        prepared = self.prepare(plan)
        with storage_errors(self.settings.database_label), self.sessions.begin() as session:
            coll = repository.ensure_collection(session, collection)
            self.write(session, coll.id, prepared)
        return prepared.encoded

    def upsert(self, collection: str, entry: FaqEntry) -> repository.WriteResult:
        """Insert or replace one entry of an existing collection."""
        with self.sessions() as session:
            repository.get_collection(session, collection)  # 404 before any encoding
        specs = self.passages(entry)
        with storage_errors(self.settings.database_label):
            cache.fill(self.sessions, self.encoder, [(p.kind, p.text) for p in specs])
            with self.sessions.begin() as session:
                coll = repository.get_collection(session, collection)
                return repository.upsert_document(session, coll.id, entry, specs,
                                                  self.digest(entry))

    def delete(self, collection: str, external_id: str) -> list[int]:
        with storage_errors(self.settings.database_label), self.sessions.begin() as session:
            coll = repository.get_collection(session, collection)
            return repository.delete_document(session, coll.id, external_id)
