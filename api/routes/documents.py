"""Collections and documents: reads, and writes that are visible to the next search."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from indexer import collections
from indexer.sources import MAX_ID_LENGTH, EntryLimits, EntryTooLarge, to_entry
from search.documents import FaqEntry
from search.errors import InputTooLargeError, InvalidInputError, NotFoundError
from search.store import repository
from search.store.models import Document
from search.text import normalize

from ..deps import EngineDep, WriteAccess
from ..engine import Engine
from ..schemas import CollectionOut, DocumentIn, DocumentOut, DocumentPage, ErrorResponse

router = APIRouter(prefix="/v1/collections", tags=["documents"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
WRITE = {401: {"model": ErrorResponse}, 413: {"model": ErrorResponse},
         507: {"model": ErrorResponse}}
# Path parameters as the schema states them: a new collection's name, and an entry id
# (up to 200 characters, no control characters; "/" allowed).
NewName = Annotated[str, Path(pattern=repository.COLLECTION_NAME.pattern.join("^$"),
                              description="1-64 letters, digits, '_' or '-'")]
EntryId = Annotated[str, Path(max_length=MAX_ID_LENGTH, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
                              description="The entry's id (may contain '/')")]


def _out(collection: str, doc: Document) -> DocumentOut:
    return DocumentOut(id=doc.id, collection=collection, external_id=doc.external_id,
                       question=doc.question, answer=doc.answer,
                       similar_questions=list(doc.similar_questions or []),
                       category=doc.category, tags=list(doc.tags or []),
                       metadata=dict(doc.meta or {}), updated_at=doc.updated_at.isoformat())


def _collections(engine: Engine, only: str | None = None) -> list[CollectionOut]:
    out = []
    with engine.sessions() as session:
        for coll, n_docs, n_passages in repository.collection_stats(session):
            if only is not None and coll.name != only:
                continue
            store = engine.registry.peek(coll.name)
            out.append(CollectionOut(
                name=coll.name, documents=n_docs, passages=n_passages,
                build_id=(store.info.build_id or None) if store else None,
                indexed_vectors=store.size if store else None,
                categories=[c for c, _ in repository.categories(session, coll.id)]))
    return out


@router.get("", response_model=list[CollectionOut])
async def list_collections(engine: EngineDep) -> list[CollectionOut]:
    return await run_in_threadpool(_collections, engine)


@router.put("/{collection}", response_model=CollectionOut, status_code=200,
            dependencies=[WriteAccess], responses={201: {"model": CollectionOut}, **WRITE})
async def create_collection(collection: NewName, engine: EngineDep, response: Response) -> CollectionOut:
    """Create a collection (201), or answer 200 when it exists already. Names: 1-64
    letters, digits, '_' or '-'."""
    def create() -> CollectionOut:
        if collections.create(engine.sessions, collection, engine.settings):
            response.status_code = 201
        engine.refresh()
        return _collections(engine, only=collection)[0]

    return await run_in_threadpool(create)


@router.delete("/{collection}", status_code=204, dependencies=[WriteAccess],
               responses={409: {"model": ErrorResponse}, **WRITE})
async def delete_collection(collection: str, engine: EngineDep,
                            force: bool = Query(False, description="Required when the "
                                                "collection holds entries: they go with it.")
                            ) -> Response:
    """Delete a collection, its entries and its index builds."""
    def delete() -> None:
        collections.delete(engine.sessions, collection, engine.settings, force=force)
        engine.refresh()

    await run_in_threadpool(delete)
    return Response(status_code=204)


def _get(engine: Engine, collection: str, external_id: str) -> DocumentOut:
    with engine.sessions() as session:
        coll = repository.get_collection(session, collection)
        doc = repository.get_document(session, coll.id, external_id)
        if doc is None:
            raise NotFoundError(f"document {external_id!r} not found in {collection!r}",
                                {"collection": collection, "external_id": external_id})
        return _out(collection, doc)


@router.get("/{collection}/documents", response_model=DocumentPage)
async def list_documents(
        collection: str, engine: EngineDep,
        offset: int = Query(0, ge=0, le=10_000_000),
        limit: int = Query(50, ge=1, le=500),
        q: str | None = Query(None, max_length=200, description="Text to look for in the id, "
                              "questions (standard and similar) and answer"),
        category: str | None = Query(None, max_length=200)) -> DocumentPage:
    """The collection's entries, oldest first, a page at a time."""
    text = (q or "").strip() or None
    normalized = normalize(text, traditional_to_simplified=engine.encoder.profile
                           .traditional_to_simplified) if text else None

    def page() -> DocumentPage:
        with engine.sessions() as session:
            coll = repository.get_collection(session, collection)
            total, docs = repository.list_documents(session, coll.id, offset=offset, limit=limit,
                                                    q=text, normalized_q=normalized,
                                                    category=category)
            return DocumentPage(total=total, offset=offset, limit=limit,
                                items=[_out(collection, d) for d in docs])

    return await run_in_threadpool(page)


# Ids may hold "/" (exported ids like "faq/123"): the path converter keeps them whole.
@router.get("/{collection}/documents/{external_id:path}", response_model=DocumentOut)
async def get_document(collection: str, external_id: EntryId, engine: EngineDep) -> DocumentOut:
    return await run_in_threadpool(_get, engine, collection, external_id)


def _entry(external_id: str, body: DocumentIn, limits: EntryLimits) -> FaqEntry:
    """The same validation as a reindex source row; limits answer 413."""
    if external_id != external_id.strip():
        raise InvalidInputError("the document id must not start or end with whitespace")
    try:
        return to_entry({"id": external_id, **body.model_dump()}, limits)
    except EntryTooLarge as exc:
        raise InputTooLargeError(str(exc), {"field": exc.field_name, "limit": exc.limit}) from exc
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc


@router.put("/{collection}/documents/{external_id:path}", response_model=DocumentOut,
            dependencies=[WriteAccess], responses=WRITE)
async def put_document(collection: str, external_id: EntryId, body: DocumentIn,
                       engine: EngineDep) -> DocumentOut:
    """Insert or replace one FAQ entry of an existing collection; a search sent after
    the response sees it."""
    entry = _entry(external_id, body, EntryLimits.of(engine.settings))

    def write() -> DocumentOut:
        engine.writer.upsert(collection, entry)
        engine.refresh()  # apply the change log now, not at the next tick
        return _get(engine, collection, external_id)

    return await run_in_threadpool(write)


@router.delete("/{collection}/documents/{external_id:path}", status_code=204,
               dependencies=[WriteAccess], responses=WRITE)
async def delete_document(collection: str, external_id: EntryId, engine: EngineDep) -> Response:
    """Delete one entry; it disappears from search at once."""
    def remove() -> None:
        engine.writer.delete(collection, external_id)
        engine.refresh()

    await run_in_threadpool(remove)
    return Response(status_code=204)
