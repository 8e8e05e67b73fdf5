"""Milvus builds: creating a build's collection, the consistency guard, alias moves.

A Milvus build is recorded in ``index_builds`` like a FAISS one (``backend`` "milvus",
``file`` the Milvus collection's name, ``sha256`` "-"), so the same guard applies: the
recorded model, dimension, pooling and normalisation must match the configuration, the
collection must exist with that dimension, and it must hold what the record and the
change log say it can hold.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import builds
from .config import Settings
from .errors import IndexCorruptError, IndexMismatchError
from .errors import SemsearchError
from .milvus_store import (Metadata, MilvusCollectionIndex, alias_name, client, live_name, schema,
                           unavailable)
from .store.db import Sessions
from .store.models import Change, Collection, Document, IndexBuild, Passage
from .vectorstore import BuildInfo

log = logging.getLogger(__name__)
_CHUNK = 500


def shown_uri(settings: Settings) -> str:
    """The Milvus URI as messages show it: a Milvus Lite file relative to the data dir."""
    uri = settings.resolved_milvus_uri
    return settings.shown_path(uri) if "://" not in uri else uri


def passage_metadata(session: Session, ids: Sequence[int]
                     ) -> dict[int, tuple[str | None, list[str]]]:
    """passage id -> (category, tags) of its document; deleted passages are absent."""
    out: dict[int, tuple[str | None, list[str]]] = {}
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), _CHUNK):
        query = (select(Passage.id, Document.category, Document.tags).join(Document)
                 .where(Passage.id.in_(ids[start:start + _CHUNK])))
        out.update({pid: (category, list(tags or [])) for pid, category, tags in session.execute(query)})
    return out


def session_metadata(sessions: Sessions) -> Metadata:
    def lookup(ids: Sequence[int]) -> dict[int, tuple[str | None, list[str]]]:
        with sessions() as session:
            return passage_metadata(session, ids)
    return lookup


def choose_index(setting: str, n: int, flat_threshold: int) -> tuple[str, dict]:
    """FLAT (exact) below the FAISS flat threshold, HNSW above, unless configured."""
    kind = setting if setting != "auto" else ("FLAT" if n < flat_threshold else "HNSW")
    params = {"HNSW": {"M": 16, "efConstruction": 200},
              "IVF_FLAT": {"nlist": max(1, min(65536, int(4 * max(n, 1) ** 0.5)))}}
    return kind, params.get(kind, {})


def is_lite_server(milvus: Any) -> bool:
    """Milvus Lite, opened as a file or run as ``milvus-lite server``."""
    return str(milvus.get_server_version()).startswith("milvus_lite")


def create_collection(milvus: Any, name: str, dim: int, kind: str, params: dict, *,
                      consistency: str) -> None:
    index = milvus.prepare_index_params()
    index.add_index("vector", index_type=kind, metric_type="IP", params=params)
    index.add_index("category", index_type="INVERTED")
    if not is_lite_server(milvus):  # Milvus indexes arrays; Milvus Lite scans them
        index.add_index("tags", index_type="INVERTED")
    milvus.create_collection(name, schema=schema(dim), consistency_level=consistency)
    milvus.create_index(name, index, sync=False)  # built as segments seal; search works meanwhile
    milvus.load_collection(name)


def point_alias(milvus: Any, alias: str, name: str) -> None:
    """Create the alias or move it (one atomic step in Milvus)."""
    current = alias_target(milvus, alias)
    if current is None:
        milvus.create_alias(name, alias)
    elif current != name:
        milvus.alter_alias(name, alias)


def alias_target(milvus: Any, alias: str) -> str | None:
    """The collection ``alias`` names, None when there is no such alias."""
    if alias not in milvus.list_aliases().get("aliases", []):
        return None
    return milvus.describe_alias(alias).get("collection_name")


def drop(milvus: Any, name: str, alias: str) -> None:
    """Drop a build's collection, never the one the alias serves."""
    if name != alias_target(milvus, alias) and milvus.has_collection(name):
        milvus.drop_collection(name)


def store_for(settings: Settings, coll: Collection, name: str, info: BuildInfo, size: int,
              metadata: Metadata) -> MilvusCollectionIndex:
    return MilvusCollectionIndex(client(settings), name, alias_name(settings.milvus_prefix, coll),
                                 info, size=size, metadata=metadata,
                                 consistency=settings.milvus_consistency,
                                 timeout=settings.milvus_timeout_s)


def open_build(build: IndexBuild, coll: Collection, session: Session, settings: Settings,
               identity: builds.Identity, metadata: Metadata) -> MilvusCollectionIndex:
    builds.verify(build, identity)
    try:
        return _open_build(build, coll, session, settings, metadata)
    except SemsearchError:
        raise
    except Exception as exc:  # the server is down, unreachable, refusing
        raise unavailable(f"loading build {build.id} ({build.file})", exc) from exc


def _open_build(build: IndexBuild, coll: Collection, session: Session, settings: Settings,
                metadata: Metadata) -> MilvusCollectionIndex:
    if build.backend != "milvus":
        raise IndexMismatchError(
            f"build {build.id} is a {build.backend} build but SEMSEARCH_VECTOR_STORE=milvus "
            "(run `semsearch reindex` to build into Milvus)", {"build_id": build.id})
    milvus = client(settings)
    if not milvus.has_collection(build.file):
        raise IndexCorruptError(f"build {build.id}: Milvus collection {build.file} is missing "
                                f"at {shown_uri(settings)}", {"build_id": build.id})
    fields = {f["name"]: f for f in milvus.describe_collection(build.file)["fields"]}
    dim = int(fields.get("vector", {}).get("params", {}).get("dim", -1))
    if dim != build.dim or not {"id", "category", "tags"} <= set(fields):
        raise IndexCorruptError(f"build {build.id}: Milvus collection {build.file} has "
                                f"dimension {dim} or lacks fields; {build.dim} was recorded")
    milvus.load_collection(build.file)  # a no-op when loaded (a restarted server unloads)
    info = BuildInfo(build.id, build.collection_id, build.model_id, build.dim, build.index_kind,
                     build.nprobe, build.vector_count, build.change_seq)
    store = store_for(settings, coll, build.file, info, 0, metadata)
    store._size = count = store.count()
    # The collection holds the build's passages plus some prefix of the logged changes
    # (workers apply them as they come), so its size lies within these bounds.
    added, removed = _logged_since(session, coll.id, build.change_seq)
    if not build.vector_count - removed <= count <= build.vector_count + added:
        raise IndexCorruptError(
            f"build {build.id}: Milvus collection {build.file} holds {count} vectors; the "
            f"database recorded {build.vector_count} (+{added}/-{removed} logged since)",
            {"build_id": build.id})
    return store


def _logged_since(session: Session, collection_id: int, seq: int) -> tuple[int, int]:
    rows = dict(session.execute(select(Change.op, func.count()).where(
        Change.collection_id == collection_id, Change.seq > seq).group_by(Change.op)).all())
    return int(rows.get("add", 0)), int(rows.get("remove", 0))


def open_live(coll: Collection, settings: Settings, identity: builds.Identity,
              metadata: Metadata) -> MilvusCollectionIndex:
    """Before the first build: a shared collection the change log fills (watermark 0)."""
    try:
        return _open_live(coll, settings, identity, metadata)
    except SemsearchError:
        raise
    except Exception as exc:
        raise unavailable(f"opening the collection for {coll.name!r}", exc) from exc


def _open_live(coll: Collection, settings: Settings, identity: builds.Identity,
               metadata: Metadata) -> MilvusCollectionIndex:
    milvus = client(settings)
    alias = alias_name(settings.milvus_prefix, coll)
    name = live_name(alias)
    if not milvus.has_collection(name):
        try:
            create_collection(milvus, name, identity.dim, "FLAT", {},
                              consistency=settings.milvus_consistency)
        except Exception:  # another worker created it first
            if not milvus.has_collection(name):
                raise
        if alias_target(milvus, alias) is None:
            point_alias(milvus, alias, name)
    milvus.load_collection(name)
    info = BuildInfo(0, coll.id, identity.model_id, identity.dim, "milvus:FLAT", 0, 0, 0)
    store = store_for(settings, coll, name, info, 0, metadata)
    store._size = store.count()
    return store


def collection_rows(session: Session, collection_id: int) -> tuple[
        np.ndarray, list[str], list[str], dict[int, tuple[str | None, list[str]]]]:
    """Every passage of a collection: ids, kinds, texts and (category, tags) by id."""
    query = (select(Passage.id, Passage.kind, Passage.text, Document.category, Document.tags)
             .join(Document).where(Passage.collection_id == collection_id).order_by(Passage.id))
    result = session.execute(query).all()
    ids = np.fromiter((r[0] for r in result), dtype=np.int64, count=len(result))
    return (ids, [r[1] for r in result], [r[2] for r in result],
            {r[0]: (r[3], list(r[4] or [])) for r in result})
