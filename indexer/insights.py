"""Carrying out an insights suggestion: a group of missed questions becomes similar questions
of an entry, or a new entry."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from search import insights
from search.documents import FaqEntry
from search.errors import InputTooLargeError, InvalidInputError, NotFoundError
from search.service import SearchService
from search.store import repository
from search.text import normalize

from .writer import DocumentWriter

ACTIONS = ("add_similar", "new_entry")


@dataclass
class Applied:
    group_id: str
    action: str
    entry_id: str
    added: list[str]  # the questions that became the entry's (new) similar questions
    skipped: int  # questions already there, or beyond the entry's limit

    def as_json(self) -> dict:
        return self.__dict__.copy()


def apply(service: SearchService, writer: DocumentWriter, collection: str, group_id: str,
          action: str, *, entry_id: str | None = None, answer: str | None = None,
          since: datetime | None = None, until: datetime | None = None) -> Applied:
    """Find the group (as ``insights.compute`` over the same window lists it) and carry
    out ``action``: ``add_similar`` to ``entry_id`` (default: the group's suggestion), or
    ``new_entry`` with the representative question (``entry_id``: its id, default
    ``faq-<group_id>``; ``answer``: its answer)."""
    if action not in ACTIONS:
        raise InvalidInputError(f"unknown action {action!r}; expected add_similar or new_entry")
    found = insights.compute(service, collection, since, until, only=group_id)
    group = found.groups[0] if found.groups else None
    if group is None:
        raise NotFoundError(f"no unanswered group {group_id!r} in {collection!r} (it may have "
                            "been applied already: its questions are in the FAQ now)")
    limit = writer.settings.max_similar_questions
    t2s = service.encoder.profile.traditional_to_simplified
    if action == "add_similar":
        target = entry_id or group.entry_id
        if target is None:
            raise InvalidInputError(f"group {group_id!r} suggests a new entry; give entry_id "
                                    "to add its questions to an existing one")
        with service.sessions() as session:
            doc = repository.get_document(session, repository.get_collection(session, collection).id,
                                          target)
            if doc is None:
                raise NotFoundError(f"no entry {target!r} in {collection!r}")
            entry = FaqEntry(doc.external_id, doc.question, doc.answer or "",
                             list(doc.similar_questions or []), doc.category, list(doc.tags or []),
                             dict(doc.meta or {}), doc.doc_type)
        have = {normalize(q, traditional_to_simplified=t2s)
                for q in [entry.question, *entry.similar_questions]}
        added = []
        for question in group.questions:
            key = normalize(question, traditional_to_simplified=t2s)
            if key not in have and len(entry.similar_questions) < limit:
                have.add(key)
                entry.similar_questions.append(question)
                added.append(question)
        if not added:
            raise InputTooLargeError(f"entry {target!r} already holds these questions or "
                                     f"{limit} similar questions, the limit", {"limit": limit})
    else:
        target = entry_id or f"faq-{group_id}"
        with service.sessions() as session:
            coll = repository.get_collection(session, collection)
            if repository.get_document(session, coll.id, target) is not None:
                raise InvalidInputError(f"entry {target!r} exists already; choose another entry_id")
        added = [q for q in group.questions if q != group.representative][:limit]
        entry = FaqEntry(target, group.representative, answer or "", list(added))
    writer.upsert(collection, entry)
    used = len(added) + (action == "new_entry")  # a new entry's question is one of them
    return Applied(group_id, action, target, added, len(group.questions) - used)
