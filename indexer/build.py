"""Build a collection's index inside a database transaction, and activate it.

A build reads the passages and the change-log watermark of the transaction it runs in,
so the writes of a reindex and the build that serves them commit together: a reindex
that fails (disk full, killed) leaves the database and the active build as they were.
The file is written beside the active one (``.tmp``, fsync, ``os.replace``, read-only)
and the build row, its snapshot of the entries and the activation share that commit;
whatever the build made outside the database (its file, a Milvus collection) is removed
again when the transaction does not commit, and what must follow the commit (moving a
Milvus alias) waits for it (:class:`SideEffects`).

With ``vector_store = "milvus"`` the build is a new Milvus collection instead of a file
(see ``milvus_build``); the record, the activation and pruning are the same.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from search import builds, hubness
from search import index as faiss_index
from search.builds import Identity
from search.lexical import LexicalIndex
from search.config import Settings
from search.encoder import TextEncoder
from search.errors import NotFoundError
from search.store import embeddings, repository, snapshots
from search.store.db import snapshot, storage_errors
from search.store.models import Collection, IndexBuild

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


class SideEffects:
    """What a transaction does outside the database: undone if it does not commit
    (``on_failure``), or done only once it has (``on_commit``)."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []

    def on_failure(self, step: Callable[[], None]) -> None:
        self._undo.append(step)

    def on_commit(self, step: Callable[[], None]) -> None:
        self._after.append(step)

    def undo(self) -> None:
        for step in reversed(self._undo):
            try:
                step()
            except Exception as exc:  # undoing is best effort; the next build cleans up
                log.warning("could not undo a step of a failed build: %s", exc)

    def committed(self) -> None:
        for step in self._after:
            step()


@contextmanager
def transaction(sessions: sessionmaker[Session], settings: Settings
                ) -> Iterator[tuple[Session, SideEffects]]:
    """One write transaction that reads one snapshot (passages and watermark agree). A
    full disk or a lock timeout becomes a domain error on the way out."""
    effects = SideEffects()
    try:
        with storage_errors(settings.database_label), sessions.begin() as session:
            snapshot(session)
            yield session, effects
    except BaseException:
        effects.undo()
        raise
    effects.committed()


def _load_vectors(session: Session, encoder: TextEncoder, kinds: list[str], texts: list[str],
                  dim: int) -> np.ndarray:
    out = np.empty((len(texts), dim), dtype=np.float32)
    for start in range(0, len(texts), _VECTOR_CHUNK):
        part = slice(start, start + _VECTOR_CHUNK)
        vectors, _ = embeddings.stored_vectors(session, encoder, kinds[part], texts[part])
        out[part] = vectors
    return out


def build_in(session: Session, coll: Collection, identity: Identity, settings: Settings,
             encoder: TextEncoder, effects: SideEffects) -> BuildReport:
    """Build, write, record and activate a new index of ``coll`` in ``session``'s
    transaction. Vectors come from the embedding cache; ``encoder`` fills any gap."""
    if settings.vector_store == "milvus":
        from .milvus_build import build_milvus

        return build_milvus(session, coll, identity, settings, encoder, effects)
    started = time.perf_counter()
    data_dir = settings.data_dir
    _remove_stale_temporaries(data_dir / "builds")
    seq = repository.last_change_seq(session, coll.id)
    rows = repository.all_passages(session, coll.id)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = _load_vectors(session, encoder, [r[1] for r in rows], [r[2] for r in rows],
                            identity.dim)
    built = faiss_index.build(vectors, ids, flat_threshold=settings.flat_threshold,
                              sq8=settings.use_sq8)
    relative = Path("builds") / f"c{coll.id}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.faiss"
    path = data_dir / relative
    effects.on_failure(lambda: path.unlink(missing_ok=True))
    digest = faiss_index.write_atomic(built.index, path, shown=str(relative))
    row = IndexBuild(collection_id=coll.id, model_id=identity.model_id, dim=identity.dim,
                     pooling=identity.pooling, normalization=identity.normalization,
                     index_kind=built.kind, nlist=built.nlist, nprobe=built.nprobe,
                     vector_count=len(ids), file=str(relative), sha256=digest,
                     change_seq=seq, recall_at_10=built.recall_at_10)
    save_lexical(session, coll, row, [(r[0], r[2]) for r in rows], data_dir, effects)
    save_densities(session, coll, row, built, vectors, ids, settings, effects)
    record(session, coll, row, encoder)
    return BuildReport(row.id, built.kind, len(ids), built.nprobe, built.recall_at_10,
                       time.perf_counter() - started)


def save_lexical(session: Session, coll: Collection, row: IndexBuild,
                 passages: list[tuple[int, str]], data_dir: Path, effects: SideEffects) -> None:
    """Save the build's lexical index beside it, so that a server starts without
    tokenising the corpus; passages the active build's index holds are not tokenised
    again."""
    previous = builds.load_lexical(data_dir, builds.active_build(session, coll.id))
    path = builds.side_file(data_dir, row, "lexical")
    effects.on_failure(lambda: path.unlink(missing_ok=True))
    LexicalIndex.build(passages, reuse=previous).save(path)


def save_densities(session: Session, coll: Collection, row: IndexBuild, built: faiss_index.BuiltIndex,
                   vectors: np.ndarray, ids: np.ndarray, settings: Settings,
                   effects: SideEffects) -> None:
    """Compute every passage's hubness density on the new index and save them beside
    it: a search then never waits for them."""
    pairs = np.asarray(repository.passage_documents(session, coll.id), dtype=np.int64).reshape(-1, 2)
    documents = pairs[np.searchsorted(pairs[:, 0], ids), 1]  # both by passage id
    densities = hubness.build_densities(
        lambda queries, depth: faiss_index.search(built.index, queries, depth, nprobe=built.nprobe),
        vectors, ids, documents, settings.hubness_k)
    path = builds.side_file(settings.data_dir, row, "density")
    effects.on_failure(lambda: path.unlink(missing_ok=True))
    hubness.save(path, ids, densities, settings.hubness_k)


def record(session: Session, coll: Collection, row: IndexBuild, encoder: TextEncoder) -> None:
    """Insert a build row with the snapshot of its entries and the band thresholds it is
    served with, and make it the active one."""
    row.bands = coll.bands or {**encoder.profile.thresholds.as_dict(), "source": "model"}
    collection_id = coll.id
    session.add(row)
    session.flush()
    snapshots.save(session, row.id, collection_id)
    _activate(session, collection_id, row.id)


def build_collection(sessions: sessionmaker[Session], collection: str, identity: Identity,
                     encoder: TextEncoder, settings: Settings) -> BuildReport:
    """Build the collection as the database holds it now, in a transaction of its own."""
    with transaction(sessions, settings) as (session, effects):
        coll = repository.get_collection(session, collection)
        report = build_in(session, coll, identity, settings, encoder, effects)
    prune(sessions, coll.id, settings)
    return report


def _remove_stale_temporaries(builds_dir: Path) -> None:
    """A build killed mid-write leaves a ``.tmp``; it was never active, so drop it."""
    if builds_dir.is_dir():
        for tmp in builds_dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)


def _activate(session: Session, collection_id: int, build_id: int) -> None:
    session.execute(update(IndexBuild).where(IndexBuild.collection_id == collection_id)
                    .values(active=IndexBuild.id == build_id))


def list_builds(sessions: sessionmaker[Session], collection: str | None
                ) -> list[tuple[IndexBuild, str]]:
    """Builds with their collection's name, newest first."""
    with sessions() as session:
        query = (select(IndexBuild, Collection.name).join(Collection)
                 .order_by(IndexBuild.id.desc()))
        if collection:
            query = query.where(IndexBuild.collection_id
                                == repository.get_collection(session, collection).id)
        return [(b, name) for b, name in session.execute(query)]


def prune(sessions: sessionmaker[Session], collection_id: int, settings: Settings) -> None:
    """Keep the newest ``keep_builds`` builds (and always the active one); delete the rest."""
    with sessions.begin() as session:
        newest_first = list(session.scalars(select(IndexBuild)
                                            .where(IndexBuild.collection_id == collection_id)
                                            .order_by(IndexBuild.id.desc())))
        doomed = [b for b in newest_first[settings.keep_builds:] if not b.active]
        for build in doomed:
            session.delete(build)
    remove_build_files(sessions, collection_id, doomed, settings)


def remove_build_files(sessions: sessionmaker[Session], collection_id: int,
                       doomed: list[IndexBuild], settings: Settings) -> None:
    """Delete the files (or Milvus collections) of build records already deleted."""
    for build in doomed:
        for kind in builds.SIDE_FILES:
            builds.side_file(settings.data_dir, build, kind).unlink(missing_ok=True)
        if build.backend == "faiss":
            (settings.data_dir / build.file).unlink(missing_ok=True)
    collections = [b.file for b in doomed if b.backend == "milvus"]
    if settings.vector_store == "milvus":
        from .milvus_build import drop_unused

        drop_unused(sessions, collection_id, collections, settings)
    elif collections:  # configured for FAISS now: do not go looking for a Milvus
        log.warning("pruned Milvus builds; drop their collections yourself: %s", collections)


def find_build(sessions: sessionmaker[Session], build_id: int) -> IndexBuild:
    with sessions() as session:
        build = session.get(IndexBuild, build_id)
        if build is None:
            raise NotFoundError(f"build {build_id} does not exist (see `semsearch builds list`)",
                                {"build_id": build_id})
        return build
