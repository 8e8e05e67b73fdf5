"""Build a collection's index from the database and activate it atomically.

The passages and the change-log watermark are read in one transaction, so a write that
lands during the build is either in the build or after its watermark, never lost. The
file is written beside the active one (``.tmp``, fsync, ``os.replace``) and the build
row is inserted and activated in one transaction: a reindex killed at any point leaves
the previous build active and intact.

With ``vector_store = "milvus"`` the build is a new Milvus collection instead of a file
(see ``milvus_build``); the record, the activation and pruning are the same.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from search import index as faiss_index
from search.builds import Identity
from search.config import Settings, get_settings
from search.errors import NotFoundError
from search.store import embeddings, repository
from search.store.db import snapshot
from search.store.models import IndexBuild

_VECTOR_CHUNK = 20_000
log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    build_id: int
    kind: str
    vectors: int
    nprobe: int
    recall_at_10: float | None
    seconds: float


def _load_vectors(session: Session, encoder, kinds: list[str], texts: list[str],  # type: ignore[no-untyped-def]
                  dim: int) -> np.ndarray:
    out = np.empty((len(texts), dim), dtype=np.float32)
    for start in range(0, len(texts), _VECTOR_CHUNK):
        part = slice(start, start + _VECTOR_CHUNK)
        vectors, _ = embeddings.stored_vectors(session, encoder, kinds[part], texts[part])
        out[part] = vectors
    return out


def resolve_settings(settings: Settings | None, data_dir: Path) -> Settings:
    """The settings a build follows: given, or the process's, over ``data_dir``."""
    return (settings or get_settings()).model_copy(update={"data_dir": data_dir})


def build_collection(sessions: sessionmaker[Session], collection: str, identity: Identity,
                     data_dir: Path, encoder, *, flat_threshold: int,  # type: ignore[no-untyped-def]
                     sq8: bool, keep: int, settings: Settings | None = None) -> BuildReport:
    """Build, write, record and activate a new index for ``collection``.

    Vectors come from the embedding cache; ``encoder`` fills any gap (a pruned cache).
    The backend is ``settings.vector_store`` (default: the process's settings).
    """
    settings = resolve_settings(settings, data_dir)
    if settings.vector_store == "milvus":
        from .milvus_build import build_milvus

        report = build_milvus(sessions, collection, identity, settings, encoder,
                              flat_threshold=flat_threshold)
        prune(sessions, _collection_id(sessions, collection), data_dir, keep, settings)
        return report
    started = time.perf_counter()
    _remove_stale_temporaries(data_dir / "builds")
    with sessions() as session:  # one read transaction: passages + watermark agree
        snapshot(session)
        coll = repository.get_collection(session, collection)
        seq = repository.last_change_seq(session, coll.id)
        rows = repository.all_passages(session, coll.id)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = _load_vectors(session, encoder, [r[1] for r in rows], [r[2] for r in rows],
                                identity.dim)
    built = faiss_index.build(vectors, ids, flat_threshold=flat_threshold, sq8=sq8)
    relative = Path("builds") / f"c{coll.id}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.faiss"
    digest = faiss_index.write_atomic(built.index, data_dir / relative)
    with sessions.begin() as session:
        row = IndexBuild(collection_id=coll.id, model_id=identity.model_id, dim=identity.dim,
                         pooling=identity.pooling, normalization=identity.normalization,
                         index_kind=built.kind, nlist=built.nlist, nprobe=built.nprobe,
                         vector_count=len(ids), file=str(relative), sha256=digest,
                         change_seq=seq, recall_at_10=built.recall_at_10)
        session.add(row)
        session.flush()
        _activate(session, coll.id, row.id)
        build_id = row.id
    prune(sessions, coll.id, data_dir, keep, settings)
    return BuildReport(build_id, built.kind, len(ids), built.nprobe, built.recall_at_10,
                       time.perf_counter() - started)


def _remove_stale_temporaries(builds_dir: Path) -> None:
    """A build killed mid-write leaves a ``.tmp``; it was never active, so drop it."""
    if builds_dir.is_dir():
        for tmp in builds_dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)


def _activate(session: Session, collection_id: int, build_id: int) -> None:
    session.execute(update(IndexBuild).where(IndexBuild.collection_id == collection_id)
                    .values(active=IndexBuild.id == build_id))


def _collection_id(sessions: sessionmaker[Session], collection: str) -> int:
    with sessions() as session:
        return repository.get_collection(session, collection).id


def activate(sessions: sessionmaker[Session], build_id: int,
             settings: Settings | None = None) -> IndexBuild:
    """Make an earlier build active again (rollback); servers pick it up."""
    settings = settings or get_settings()
    with sessions() as session:
        build = session.get(IndexBuild, build_id)
        if build is None:
            raise NotFoundError(f"build {build_id} does not exist")
        if build.backend == "milvus":  # check before the switch: the collection must serve
            from .milvus_build import check_activatable

            check_activatable(session, build, settings)
    with sessions.begin() as session:
        build = session.get(IndexBuild, build_id)
        _activate(session, build.collection_id, build.id)
    if build.backend == "milvus":
        from .milvus_build import move_alias

        move_alias(sessions, build, settings)
    return build


def list_builds(sessions: sessionmaker[Session], collection: str | None) -> list[IndexBuild]:
    with sessions() as session:
        query = select(IndexBuild).order_by(IndexBuild.id.desc())
        if collection:
            query = query.where(IndexBuild.collection_id
                                == repository.get_collection(session, collection).id)
        return list(session.scalars(query))


def prune(sessions: sessionmaker[Session], collection_id: int, data_dir: Path, keep: int,
          settings: Settings | None = None) -> None:
    """Keep the newest ``keep`` builds (and always the active one); delete the rest."""
    with sessions.begin() as session:
        builds = list(session.scalars(select(IndexBuild)
                                      .where(IndexBuild.collection_id == collection_id)
                                      .order_by(IndexBuild.id.desc())))
        doomed = [b for b in builds[keep:] if not b.active]
        for build in doomed:
            session.delete(build)
        files = [data_dir / b.file for b in doomed if b.backend == "faiss"]
        collections = [b.file for b in doomed if b.backend == "milvus"]
    for path in files:
        path.unlink(missing_ok=True)
    settings = resolve_settings(settings, data_dir)
    if settings.vector_store == "milvus":
        from .milvus_build import drop_unused

        drop_unused(sessions, collection_id, collections, settings)
    elif collections:  # configured for FAISS now: do not go looking for a Milvus
        log.warning("pruned Milvus builds; drop their collections yourself: %s", collections)
