"""Queries and writes over the metadata store, one function per job.

Functions take a :class:`~sqlalchemy.orm.Session` and never commit: the caller decides
the transaction, so that a document, its passages and their change-log rows always
land together.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Text, bindparam, cast, delete, func, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..documents import FaqEntry, PassageSpec, text_hash
from ..errors import InvalidInputError, NotFoundError
from .models import Change, Collection, Document, DocumentTag, IndexBuild, Passage, utcnow


@dataclass
class WriteResult:
    document_id: int
    added: list[int]  # passage ids
    removed: list[int]
    changed: bool


COLLECTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_collection_name(name: str) -> str:
    """Collections are named like identifiers, so a typo cannot pass for a new one."""
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
        raise InvalidInputError(f"invalid collection name {name!r}: use 1-64 letters, digits, "
                                "'_' or '-'", {"collection": name, "pattern": COLLECTION_NAME.pattern})
    return name


def find_collection(session: Session, name: str) -> Collection | None:
    return session.scalar(select(Collection).where(Collection.name == name))


def get_collection(session: Session, name: str) -> Collection:
    found = find_collection(session, name)
    if found is None:
        raise NotFoundError(f"collection {name!r} does not exist (create it with PUT "
                            f"/v1/collections/{name} or `semsearch reindex SOURCE --collection "
                            f"{name}`)", {"collection": name})
    return found


def ensure_collection(session: Session, name: str) -> Collection:
    """The named collection, created (with a valid name) when missing."""
    found = find_collection(session, name)
    if found is None:
        found = Collection(name=check_collection_name(name))
        session.add(found)
        session.flush()
    return found


def delete_collection(session: Session, collection: Collection) -> list[IndexBuild]:
    """Delete a collection with its entries, passages, change log and build records;
    returns the build records so that the caller can remove their files."""
    doomed = list(session.scalars(select(IndexBuild).where(IndexBuild.collection_id == collection.id)))
    session.execute(delete(Change).where(Change.collection_id == collection.id))
    session.execute(delete(DocumentTag).where(DocumentTag.document_id.in_(
        select(Document.id).where(Document.collection_id == collection.id))))
    session.execute(delete(Passage).where(Passage.collection_id == collection.id))
    session.execute(delete(Document).where(Document.collection_id == collection.id))
    for build in doomed:
        session.delete(build)
    session.delete(collection)
    return doomed


def collection_stats(session: Session) -> list[tuple[Collection, int, int]]:
    """Each collection with its document and passage counts."""
    docs = (select(Document.collection_id, func.count().label("n"))
            .group_by(Document.collection_id).subquery())
    passages = (select(Passage.collection_id, func.count().label("n"))
                .group_by(Passage.collection_id).subquery())
    rows = session.execute(
        select(Collection, func.coalesce(docs.c.n, 0), func.coalesce(passages.c.n, 0))
        .outerjoin(docs, docs.c.collection_id == Collection.id)
        .outerjoin(passages, passages.c.collection_id == Collection.id)
        .order_by(Collection.name))
    return [(c, int(d), int(p)) for c, d, p in rows]


def get_document(session: Session, collection_id: int, external_id: str) -> Document | None:
    return session.scalar(select(Document).where(
        Document.collection_id == collection_id, Document.external_id == external_id))


def list_documents(session: Session, collection_id: int, *, offset: int = 0, limit: int = 50,
                   q: str | None = None, normalized_q: str | None = None,
                   category: str | None = None) -> tuple[int, list[Document]]:
    """One page of the collection's entries, oldest first, and how many match: ``q`` is
    looked for in the id, question and answer, ``normalized_q`` (the query as passages
    are stored) in the standard and similar questions."""
    where = [Document.collection_id == collection_id]
    if category is not None:
        where.append(Document.category == category)
    if q:
        found = [Document.external_id.contains(q, autoescape=True),
                 Document.question.contains(q, autoescape=True),
                 Document.answer.contains(q, autoescape=True)]
        if normalized_q:
            found.append(Document.id.in_(select(Passage.document_id).where(
                Passage.collection_id == collection_id, Passage.kind.in_(("question", "similar")),
                Passage.text.contains(normalized_q, autoescape=True))))
        where.append(or_(*found))
    total = session.scalar(select(func.count()).select_from(Document).where(*where)) or 0
    page = session.scalars(select(Document).where(*where).order_by(Document.id)
                           .offset(offset).limit(limit))
    return int(total), list(page)


def document_hashes(session: Session, collection_id: int) -> dict[str, str]:
    rows = session.execute(select(Document.external_id, Document.content_hash)
                           .where(Document.collection_id == collection_id))
    return {k: v for k, v in rows.all()}


def upsert_document(session: Session, collection_id: int, entry: FaqEntry,
                    passages: Sequence[PassageSpec], digest: str) -> WriteResult:
    """Insert or replace one entry and its passages; an entry stored with the same
    ``digest`` (its content hash under the writer's expansion rules) is left alone."""
    doc = get_document(session, collection_id, entry.external_id)
    removed: list[int] = []
    if doc is not None:
        if doc.content_hash == digest:
            return WriteResult(doc.id, [], [], changed=False)
        removed = _remove_passages(session, collection_id, doc.id)
        session.execute(delete(DocumentTag).where(DocumentTag.document_id == doc.id))
    else:
        doc = Document(collection_id=collection_id, external_id=entry.external_id)
        session.add(doc)
    doc.doc_type = entry.doc_type
    doc.question, doc.answer = entry.question, entry.answer
    doc.similar_questions, doc.category = list(entry.similar_questions), entry.category
    doc.tags, doc.meta, doc.content_hash = list(entry.tags), dict(entry.metadata), digest
    session.flush()
    session.add_all(DocumentTag(document_id=doc.id, tag=t) for t in dict.fromkeys(entry.tags))
    rows = [Passage(document_id=doc.id, collection_id=collection_id, kind=p.kind,
                    ordinal=p.ordinal, text=p.text, text_hash=text_hash(p.text))
            for p in passages]
    session.add_all(rows)
    session.flush()
    added = [r.id for r in rows]
    _log(session, collection_id, added, "add")
    return WriteResult(doc.id, added, removed, changed=True)


def insert_documents(session: Session, collection_id: int,
                     items: Sequence[tuple[FaqEntry, Sequence[PassageSpec], str]]) -> list[WriteResult]:
    """Insert entries the collection does not hold yet (entry, passages, digest), a few
    statements per thousand entries instead of a round trip per row: a reindex of a
    new collection. An entry whose id exists by now (an online write since the plan)
    is upserted instead."""
    taken: set[str] = set()
    ids = [entry.external_id for entry, _, _ in items]
    for start in range(0, len(ids), 500):
        taken.update(session.scalars(select(Document.external_id).where(
            Document.collection_id == collection_id,
            Document.external_id.in_(ids[start:start + 500]))))
    fresh = [item for item in items if item[0].external_id not in taken]
    out = [upsert_document(session, collection_id, *item) for item in items
           if item[0].external_id in taken]
    for start in range(0, len(fresh), 1000):
        out.extend(_insert_block(session, collection_id, fresh[start:start + 1000]))
    return out


def _insert_block(session: Session, collection_id: int,
                  items: Sequence[tuple[FaqEntry, Sequence[PassageSpec], str]]) -> list[WriteResult]:
    now = utcnow()
    doc_ids = list(session.scalars(
        insert(Document).returning(Document.id, sort_by_parameter_order=True),
        [{"collection_id": collection_id, "external_id": e.external_id, "doc_type": e.doc_type,
          "question": e.question, "answer": e.answer, "similar_questions": list(e.similar_questions),
          "category": e.category, "tags": list(e.tags), "meta": dict(e.metadata),
          "content_hash": digest, "created_at": now, "updated_at": now}
         for e, _, digest in items]))
    tags = [{"document_id": d, "tag": t} for d, (e, _, _) in zip(doc_ids, items)
            for t in dict.fromkeys(e.tags)]
    if tags:
        session.execute(insert(DocumentTag), tags)
    rows = [{"document_id": d, "collection_id": collection_id, "kind": p.kind, "ordinal": p.ordinal,
             "text": p.text, "text_hash": text_hash(p.text)}
            for d, (_, specs, _) in zip(doc_ids, items) for p in specs]
    passage_ids = list(session.scalars(
        insert(Passage).returning(Passage.id, sort_by_parameter_order=True), rows)) if rows else []
    if passage_ids:
        session.execute(insert(Change), [{"collection_id": collection_id, "passage_id": p,
                                          "op": "add", "created_at": now} for p in passage_ids])
    out, at = [], 0
    for d, (_, specs, _) in zip(doc_ids, items):
        out.append(WriteResult(d, passage_ids[at:at + len(specs)], [], changed=True))
        at += len(specs)
    return out


def delete_document(session: Session, collection_id: int, external_id: str) -> list[int]:
    doc = get_document(session, collection_id, external_id)
    if doc is None:
        raise NotFoundError(f"document {external_id!r} not found", {"external_id": external_id})
    removed = _remove_passages(session, collection_id, doc.id)
    session.execute(delete(Document).where(Document.id == doc.id))
    return removed


def _remove_passages(session: Session, collection_id: int, document_id: int) -> list[int]:
    ids = list(session.scalars(select(Passage.id).where(Passage.document_id == document_id)))
    if ids:
        session.execute(delete(Passage).where(Passage.document_id == document_id))
        _log(session, collection_id, ids, "remove")
    return ids


def _log(session: Session, collection_id: int, passage_ids: Iterable[int], op: str) -> None:
    session.add_all(Change(collection_id=collection_id, passage_id=p, op=op) for p in passage_ids)


def last_change_seq(session: Session, collection_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.max(Change.seq), 0))
                              .where(Change.collection_id == collection_id)) or 0)


def changes_since(session: Session, collection_id: int, seq: int) -> list[tuple[int, int, str]]:
    """(seq, passage id, op) after ``seq``, oldest first."""
    rows = session.execute(select(Change.seq, Change.passage_id, Change.op)
                           .where(Change.collection_id == collection_id, Change.seq > seq)
                           .order_by(Change.seq))
    return [(seq, pid, op) for seq, pid, op in rows]


class HitRow(NamedTuple):
    """The passage a hit matched, with its entry's fields."""

    passage_id: int
    kind: str
    text: str
    document_id: int
    external_id: str
    question: str
    answer: str
    category: str | None
    tags: tuple[str, ...]
    metadata: Mapping[str, Any]  # shared by every search that shows the row: copy to change


_HIT_ROWS = (
    select(Passage.id, Passage.kind, Passage.text, Document.id, Document.external_id,
           Document.question, Document.answer, Document.category,
           cast(Document.tags, Text), cast(Document.meta, Text))
    .join(Document, Document.id == Passage.document_id)
    .where(Passage.id.in_(bindparam("ids", expanding=True))))  # compiled once, cached


def hit_rows(connection: Connection, passage_ids: Sequence[int]) -> dict[int, HitRow]:
    """passage id -> its hit row, for the passages that exist: a search's one round
    trip to the database, as plain rows (no ORM objects, no session)."""
    if not passage_ids:
        return {}
    rows = connection.execute(_HIT_ROWS, {"ids": [int(p) for p in passage_ids]})
    return {int(r[0]): HitRow(*r[:8], tuple(json.loads(r[8] or "[]")), json.loads(r[9] or "{}") or {})
            for r in rows}


def passages_by_id(session: Session, passage_ids: Sequence[int]) -> dict[int, tuple[int, str, str]]:
    """passage id -> (entry id, kind, text), for the ids that exist."""
    if not passage_ids:
        return {}
    rows = session.execute(select(Passage.id, Passage.document_id, Passage.kind, Passage.text)
                           .where(Passage.id.in_(passage_ids)))
    return {pid: (document, kind, text) for pid, document, kind, text in rows.all()}


def passage_entries(session: Session, collection_id: int) -> list[tuple[int, int, str]]:
    """(passage id, entry id, kind) of every passage of the collection."""
    query = (select(Passage.id, Passage.document_id, Passage.kind)
             .where(Passage.collection_id == collection_id))
    return [(int(pid), int(document), kind) for pid, document, kind in session.execute(query)]


def all_passages(session: Session, collection_id: int,
                 kinds: Sequence[str] | None = None) -> list[tuple[int, str, str]]:
    """(id, kind, text) of every passage of the collection (of ``kinds`` only, when
    given), by id."""
    query = select(Passage.id, Passage.kind, Passage.text).where(Passage.collection_id == collection_id)
    if kinds is not None:
        query = query.where(Passage.kind.in_(kinds))
    rows = session.execute(query.order_by(Passage.id))
    return [(pid, kind, text) for pid, kind, text in rows]


def passage_documents(session: Session, collection_id: int) -> list[tuple[int, int]]:
    """(passage id, document id) of every passage of the collection, by passage id."""
    query = (select(Passage.id, Passage.document_id)
             .where(Passage.collection_id == collection_id).order_by(Passage.id))
    return [(int(pid), int(document)) for pid, document in session.execute(query)]


def filtered_passage_ids(session: Session, collection_id: int, category: str | None,
                         tags: Sequence[str] | None) -> list[int]:
    """Passage ids whose document matches the category and carries every tag."""
    query = (select(Passage.id).join(Document)
             .where(Passage.collection_id == collection_id))
    if category is not None:
        query = query.where(Document.category == category)
    for tag in dict.fromkeys(tags or []):
        query = query.where(Document.id.in_(
            select(DocumentTag.document_id).where(DocumentTag.tag == tag)))
    return list(session.scalars(query))


def categories(session: Session, collection_id: int) -> list[tuple[str, int]]:
    rows = session.execute(select(Document.category, func.count())
                           .where(Document.collection_id == collection_id,
                                  Document.category.is_not(None))
                           .group_by(Document.category).order_by(Document.category))
    return [(c, int(n)) for c, n in rows if c is not None]  # the query leaves None out; mypy cannot tell


def question_passages(session: Session, collection_id: int
                      ) -> list[tuple[int, str, str, str, str, str]]:
    """(passage id, kind, text, entry external id, entry question, entry answer) of every
    standard and similar question of the collection, by passage id."""
    from ..documents import QUESTION_KINDS

    rows = session.execute(
        select(Passage.id, Passage.kind, Passage.text, Document.external_id, Document.question,
               Document.answer).join(Document)
        .where(Passage.collection_id == collection_id, Passage.kind.in_(QUESTION_KINDS))
        .order_by(Passage.id))
    return [(pid, kind, text, external_id, question, answer)
            for pid, kind, text, external_id, question, answer in rows]
