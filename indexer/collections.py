"""Creating and deleting collections: explicit acts, so that a typo never makes one.

A write to a collection that does not exist is refused (404); collections come from
``PUT /v1/collections/{name}`` or ``semsearch reindex --collection NAME``. Deleting one
that holds entries needs ``force``, and removes its builds' files (or Milvus
collections) once the database no longer names them.
"""
from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from search.config import Settings
from search.errors import ConflictError
from search.store import repository
from search.store.db import storage_errors
from search.store.models import Document

from .build import remove_build_files

log = logging.getLogger(__name__)


def create(sessions: sessionmaker[Session], name: str, settings: Settings) -> bool:
    """Create collection ``name``; False when it already exists."""
    with storage_errors(settings.database_label), sessions.begin() as session:
        if repository.find_collection(session, name) is not None:
            return False
        repository.ensure_collection(session, name)
    return True


def delete(sessions: sessionmaker[Session], name: str, settings: Settings, *,
           force: bool = False) -> int:
    """Delete collection ``name`` with its entries; returns how many entries went."""
    alias = None
    with storage_errors(settings.database_label), sessions.begin() as session:
        coll = repository.get_collection(session, name)
        entries = int(session.scalar(select(func.count()).select_from(Document)
                                     .where(Document.collection_id == coll.id)) or 0)
        if entries and not force:
            raise ConflictError(f"collection {name!r} holds {entries} entries; deleting it "
                                "deletes them too: repeat with force=true to do so",
                                {"collection": name, "entries": entries})
        if settings.vector_store == "milvus":
            from search.milvus_store import alias_name

            alias = alias_name(settings.milvus_prefix, coll)  # needs the row: before it goes
        doomed = repository.delete_collection(session, coll)
    remove_build_files(sessions, coll.id, [b for b in doomed if b.backend == "faiss"], settings)
    if alias:
        _drop_milvus(alias, settings)
    return entries


def _drop_milvus(alias: str, settings: Settings) -> None:
    """Drop the alias and the collections of its builds (best effort)."""
    from search.milvus_store import client

    try:
        milvus = client(settings)
        for name in milvus.list_collections():
            if name.startswith(alias + "_"):  # builds (<alias>_b…) and <alias>_live
                if alias in milvus.list_aliases(collection_name=name).get("aliases", []):
                    milvus.drop_alias(alias)
                milvus.drop_collection(name)
    except Exception as exc:  # the database no longer names them: a later look can drop them
        log.warning("could not drop the Milvus collections of a deleted collection: %s", exc)
