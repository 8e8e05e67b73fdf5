"""Collections and documents: reads, and writes that are visible to the next search."""
from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from indexer.sources import to_entry
from search.errors import InvalidInputError, NotFoundError
from search.store import repository
from search.store.models import Document

from ..deps import EngineDep, WriteAccess
from ..engine import Engine
from ..schemas import CollectionOut, DocumentIn, DocumentOut, ErrorResponse

router = APIRouter(prefix="/v1/collections", tags=["documents"],
                   responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})


def _out(collection: str, doc: Document) -> DocumentOut:
    return DocumentOut(id=doc.id, collection=collection, external_id=doc.external_id,
                       question=doc.question, answer=doc.answer,
                       similar_questions=list(doc.similar_questions or []),
                       category=doc.category, tags=list(doc.tags or []),
                       metadata=dict(doc.meta or {}), updated_at=doc.updated_at.isoformat())


def _collections(engine: Engine) -> list[CollectionOut]:
    out = []
    with engine.sessions() as session:
        for coll, n_docs, n_passages in repository.collection_stats(session):
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


def _get(engine: Engine, collection: str, external_id: str) -> DocumentOut:
    with engine.sessions() as session:
        coll = repository.get_collection(session, collection)
        doc = repository.get_document(session, coll.id, external_id)
        if doc is None:
            raise NotFoundError(f"document {external_id!r} not found in {collection!r}",
                                {"collection": collection, "external_id": external_id})
        return _out(collection, doc)


@router.get("/{collection}/documents/{external_id}", response_model=DocumentOut)
async def get_document(collection: str, external_id: str, engine: EngineDep) -> DocumentOut:
    return await run_in_threadpool(_get, engine, collection, external_id)


@router.put("/{collection}/documents/{external_id}", response_model=DocumentOut,
            dependencies=[WriteAccess])
async def put_document(collection: str, external_id: str, body: DocumentIn,
                       engine: EngineDep) -> DocumentOut:
    """Insert or replace one FAQ entry; a search sent after the response sees it."""
    try:  # the same validation as a reindex source row
        entry = to_entry({"id": external_id, **body.model_dump()})
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc

    def write() -> DocumentOut:
        engine.writer.upsert(collection, entry)
        engine.refresh()  # apply the change log now, not at the next tick
        return _get(engine, collection, external_id)

    return await run_in_threadpool(write)


@router.delete("/{collection}/documents/{external_id}", status_code=204,
               dependencies=[WriteAccess])
async def delete_document(collection: str, external_id: str, engine: EngineDep) -> Response:
    """Delete one entry; it disappears from search at once."""
    def remove() -> None:
        engine.writer.delete(collection, external_id)
        engine.refresh()

    await run_in_threadpool(remove)
    return Response(status_code=204)
