"""Build a collection's index into Milvus, activate it and move the alias.

Each build is a new Milvus collection named ``<alias>_b<UTC time><random>``; the active
one keeps serving while the new one is filled, flushed and counted. It is built from the
reindex's own transaction (``indexer.build.transaction``), recorded and activated in it
(what semsearch processes follow), and the alias moves once that commits (what any other
Milvus reader follows). A build that fails drops its collection; one killed half-way
leaves an unrecorded collection that a later build drops once it is old enough not to be
a concurrent one.
"""
from __future__ import annotations

import calendar
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from search import builds
from search import index as faiss_index
from search.builds import Identity
from search.config import Settings
from search.encoder import TextEncoder
from search.errors import IndexCorruptError
from search.milvus_builds import (alias_target, choose_index, collection_rows, create_collection,
                                  drop, passage_metadata, point_alias, store_for)
from search.milvus_store import alias_name, client, live_name, rows
from search.store import repository
from search.store.models import Collection, IndexBuild
from search.vectorstore import BuildInfo

if TYPE_CHECKING:
    from .build import BuildReport, SideEffects

log = logging.getLogger(__name__)
ORPHAN_AGE_S = 6 * 3600  # an unrecorded build collection younger than this may be in progress
_INSERT_BATCH = 1_000


def build_milvus(session: Session, coll: Collection, identity: Identity, settings: Settings,
                 encoder: TextEncoder, effects: SideEffects) -> BuildReport:
    """A new Milvus collection holding every passage ``session`` sees, recorded and
    activated in its transaction; dropped again if that does not commit, and the alias
    moved only once it has."""
    from .build import BuildReport, _load_vectors, record, save_densities, save_lexical

    started = time.perf_counter()
    seq = repository.last_change_seq(session, coll.id)
    ids, kinds, texts, meta = collection_rows(session, coll.id)
    vectors = _load_vectors(session, encoder, kinds, texts, identity.dim)
    milvus = client(settings)
    alias = alias_name(settings.milvus_prefix, coll)
    drop_orphans(session, milvus, coll.id, alias)
    name = f"{alias}_b{time.strftime('%Y%m%d%H%M%S', time.gmtime())}{uuid.uuid4().hex[:6]}"
    kind, params = choose_index(settings.milvus_index, len(ids), settings.flat_threshold)
    create_collection(milvus, name, identity.dim, kind, params,
                      consistency=settings.milvus_consistency)
    effects.on_failure(lambda: _drop_quietly(milvus, name))
    for start in range(0, len(ids), _INSERT_BATCH):
        part = slice(start, start + _INSERT_BATCH)
        milvus.insert(name, rows(ids[part], vectors[part], meta),
                      timeout=settings.milvus_timeout_s)
    milvus.flush(name)
    info = BuildInfo(0, coll.id, identity.model_id, identity.dim, f"milvus:{kind}", 0,
                     len(ids), seq)
    store = store_for(settings, coll, name, info, 0, lambda pids: passage_metadata(session, pids))
    count = store.count()
    if count != len(ids):
        raise IndexCorruptError(f"Milvus collection {name} holds {count} vectors after "
                                f"inserting {len(ids)}")
    row = IndexBuild(collection_id=coll.id, backend="milvus", model_id=identity.model_id,
                     dim=identity.dim, pooling=identity.pooling,
                     normalization=identity.normalization, index_kind=f"milvus:{kind}",
                     nlist=int(params.get("nlist", 0)), nprobe=0, vector_count=count,
                     file=name, sha256="-", change_seq=seq, recall_at_10=None)
    save_lexical(session, coll, row, list(zip(ids.tolist(), texts)), settings.data_dir, effects)
    # the densities come from an index of the same vectors in this process: a batched
    # search of the whole collection is what FAISS is for, not a round trip per batch
    neighbours = faiss_index.build(vectors, ids, flat_threshold=settings.flat_threshold)
    save_densities(session, coll, row, neighbours, vectors, ids, settings, effects)
    record(session, coll, row, encoder)
    effects.on_commit(lambda: point_alias(milvus, alias, name))
    return BuildReport(row.id, f"milvus:{kind}", count, 0, None, time.perf_counter() - started)


def _drop_quietly(milvus: Any, name: str) -> None:
    try:
        milvus.drop_collection(name)
    except Exception as exc:  # the next build drops it as an orphan
        log.warning("could not drop the unfinished Milvus collection %s: %s", name, exc)


def drop_orphans(session: Session, milvus: Any, collection_id: int, alias: str) -> None:
    """Drop build collections no record names (killed builds) once they are old."""
    recorded = set(session.scalars(select(IndexBuild.file).where(
        IndexBuild.collection_id == collection_id, IndexBuild.backend == "milvus")))
    pattern = re.compile(re.escape(alias) + r"_b(\d{14})[0-9a-f]{6}$")
    for name in milvus.list_collections():
        found = pattern.match(name)
        if not found or name in recorded:
            continue
        made = calendar.timegm(time.strptime(found.group(1), "%Y%m%d%H%M%S"))
        if time.time() - made > ORPHAN_AGE_S:
            log.info("dropping Milvus collection %s left by an unfinished build", name)
            drop(milvus, name, alias)


def drop_unused(sessions: sessionmaker[Session], collection_id: int, doomed: list[str],
                settings: Settings) -> None:
    """Drop pruned builds' collections, and the pre-build one once a build is active."""
    try:
        with sessions() as session:
            coll = session.get(Collection, collection_id)
            active = builds.active_build(session, collection_id)
        if coll is None:
            return
        milvus = client(settings)
        alias = alias_name(settings.milvus_prefix, coll)
        if active is not None and active.backend == "milvus":
            doomed = doomed + [live_name(alias)]
        for name in doomed:
            drop(milvus, name, alias)
    except Exception as exc:  # pruning is housekeeping: never fail a build over it
        log.warning("could not drop unused Milvus collections: %s", exc)


def check_activatable(session: Session, build: IndexBuild, settings: Settings) -> None:
    milvus = client(settings)
    if not milvus.has_collection(build.file):
        raise IndexCorruptError(f"build {build.id}: Milvus collection {build.file} no longer "
                                "exists; it cannot be activated", {"build_id": build.id})
    milvus.load_collection(build.file)


def move_alias(sessions: sessionmaker[Session], build: IndexBuild, settings: Settings) -> None:
    with sessions() as session:
        coll = session.get(Collection, build.collection_id)
    milvus = client(settings)
    alias = alias_name(settings.milvus_prefix, coll)
    if alias_target(milvus, alias) != build.file:
        point_alias(milvus, alias, build.file)
