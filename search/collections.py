"""The loaded index of every collection, kept current while the server runs.

``refresh()`` is called periodically and after every write: it swaps in a newly
activated build (loaded and caught up *before* the swap, so requests in flight finish
on the old one) and replays the change log onto the current one. A build that fails the
consistency guard is reported and skipped; the previous good build keeps serving.

The vector backend follows ``settings.vector_store``: FAISS files in the data directory
(each process holds its own delta), or Milvus collections shared by every process (see
``milvus_store``). Either way each process keeps its own change-log watermark.
"""
from __future__ import annotations

import logging
import threading
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import builds
from . import index as faiss_index
from .config import Settings
from .encoder import TextEncoder
from .errors import (IndexCorruptError, IndexMismatchError, NotFoundError, NotReadyError,
                     SemsearchError)
from .hubness import DensityCache
from .lexical import LexicalIndex
from .passages import PassageTable
from .store import repository
from .store.db import Sessions
from .store.models import Collection, IndexBuild
from .tuning import Tuning, tuning_from_json
from .vectorstore import BuildInfo, FaissCollectionIndex, VectorStore

log = logging.getLogger(__name__)


class Served(NamedTuple):
    """What one collection is searched with, swapped as one reference: the vector
    store, its BM25 index (None in dense-only mode) and its passage table."""

    store: VectorStore
    lexical: LexicalIndex | None
    passages: PassageTable


class CollectionRegistry:
    def __init__(self, settings: Settings, encoder: TextEncoder, sessions: Sessions,
                 only: str | None = None) -> None:
        """``only`` names the one collection this registry loads (an evaluation's)."""
        self.only = only
        self.settings = settings
        self.encoder = encoder
        self.sessions = sessions
        self.identity = builds.identity_for(encoder)
        self._served: dict[str, Served] = {}
        self.use_lexical = settings.retrieval_mode != "dense"
        self.density = DensityCache()  # shared by the services over this registry
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()  # one refresh at a time; readers never wait
        self.errors: dict[str, str] = {}  # collection -> why its newest build is not served
        self._failed: dict[str, tuple] = {}  # collection -> (what failed to load, why)
        self._tuning: dict[str, Tuning] = {}  # collections with bands or a ranking of their own

    def names(self) -> list[str]:
        return sorted(self._served)

    def served(self, name: str) -> Served:
        """The collection's store, BM25 index and passage table, loaded on first use."""
        served = self._served.get(name)
        if served is None and name not in self.errors and self._exists(name):
            self.refresh()  # created since the last refresh
            served = self._served.get(name)
        if served is None and name in self.errors:
            raise NotReadyError(f"collection {name!r} cannot be served: {self.errors[name]}",
                                {"collection": name})
        if served is None:
            raise NotFoundError(f"collection {name!r} does not exist", {"collection": name})
        return served

    def get(self, name: str) -> VectorStore:
        return self.served(name).store

    def _exists(self, name: str) -> bool:
        with self.sessions() as session:
            return session.scalar(select(Collection.id).where(Collection.name == name)) is not None

    def lexical(self, name: str) -> LexicalIndex | None:
        """The collection's BM25 index (None in dense-only mode)."""
        return self.served(name).lexical

    def peek(self, name: str) -> VectorStore | None:
        """The loaded store, without loading anything."""
        served = self._served.get(name)
        return served.store if served is not None else None

    def total_vectors(self) -> int:
        return sum(s.store.size for s in self._served.values())

    def refresh(self) -> None:
        """Pick up new collections, newly activated builds and logged writes; forget
        deleted collections; stop serving a build whose file changed under us."""
        with self._lock, self.sessions() as session:
            present = {}
            query = select(Collection)
            if self.only is not None:
                query = query.where(Collection.name == self.only)
            for coll in session.scalars(query):
                present[coll.name] = coll.id
                self._set_tuning(coll)
                try:
                    self._refresh_one(session, coll)
                    self.errors.pop(coll.name, None)
                except SemsearchError as exc:
                    if self.errors.get(coll.name) != exc.message:
                        log.error("collection %s: %s", coll.name, exc.message)
                    self.errors[coll.name] = exc.message
            for name in (set(self._served) | set(self.errors) | set(self._ids)) - set(present):
                self._forget(name)
            self._ids.update(present)

    def tuning(self, name: str) -> Tuning:
        """The collection's own bands and ranking (calibrated or set by hand), if any."""
        if name not in self._ids and self._exists(name):
            self.refresh()  # not seen yet: its row holds them
        return self._tuning.get(name, Tuning())

    def _set_tuning(self, coll: Collection) -> None:
        if coll.bands:
            self._tuning[coll.name] = tuning_from_json(coll.bands)
        else:
            self._tuning.pop(coll.name, None)

    def _forget(self, name: str) -> None:
        for table in (self._served, self._ids, self.errors, self._failed, self._tuning):
            table.pop(name, None)

    def _refresh_one(self, session: Session, coll: Collection) -> None:
        current = self._served.get(coll.name)
        build = builds.active_build(session, coll.id)
        wanted = (coll.id, build.id if build is not None else 0)
        if current is None or (current.store.info.collection_id,
                               current.store.info.build_id) != wanted:
            self._reopen(session, coll, build, wanted)
            return
        problem = current.store.problem()
        if problem:  # never serve what no longer matches the verified file
            self._served.pop(coll.name)
            raise IndexCorruptError(f"collection {coll.name!r}: {problem}")
        self._catch_up(session, current)

    def _reopen(self, session: Session, coll: Collection, build: IndexBuild | None,
                wanted: tuple[int, int]) -> None:
        """Load the active build (caught up before the swap, so requests in flight finish
        on the old one). A build that failed to load is not read again until the active
        build or its file changes: a corrupt file is hashed once, not every second."""
        key = (wanted, self._file_state(build))
        failed = self._failed.get(coll.name)
        if failed is not None and failed[0] == key:
            raise IndexCorruptError(failed[1])
        try:
            fresh = self._open(session, coll, build)
        except SemsearchError as exc:
            if key[1] is not None:  # a file's fault stays until the file changes; a
                self._failed[coll.name] = (key, exc.message)  # server's may pass: retry
            raise
        self._failed.pop(coll.name, None)
        saved = builds.load_densities(self.settings.data_dir, build) if self.use_lexical else None
        if saved is not None:
            self.density.seed(fresh, *saved)
        served = Served(fresh, self._open_lexical(session, coll, build),
                        PassageTable.of_rows(repository.passage_entries(session, coll.id)))
        self._catch_up(session, served)  # the table is of now: replaying it changes nothing
        self._served[coll.name] = served  # an atomic swap of one reference

    def _file_state(self, build: IndexBuild | None) -> tuple | None:
        if build is None or build.backend != "faiss":
            return None
        try:
            st = (self.settings.data_dir / build.file).stat()
        except OSError:
            return ("missing",)
        return (st.st_size, st.st_mtime_ns, st.st_ino)

    def _open_lexical(self, session: Session, coll: Collection,
                      build: IndexBuild | None) -> LexicalIndex | None:
        """The build's saved lexical index (the change log after it is applied next), or
        one tokenised from the passages the database holds now."""
        if not self.use_lexical:
            return None
        saved = builds.load_lexical(self.settings.data_dir, build)
        if saved is not None:
            return saved
        return LexicalIndex((pid, text) for pid, _, text in repository.all_passages(session, coll.id))

    def _catch_up(self, session: Session, served: Served) -> None:
        """Replay the change log onto the store, then the passage table and BM25."""
        applied = builds.catch_up(served.store, session, self.encoder)
        served.passages.apply({pid: (entry, kind) for pid, (entry, kind, _) in applied.added.items()},
                              applied.removed)
        if served.lexical is not None:
            served.lexical.add((pid, text) for pid, (_, _, text) in applied.added.items())
            served.lexical.remove(applied.removed)

    def _open(self, session: Session, coll: Collection, build: IndexBuild | None) -> VectorStore:
        if self.settings.vector_store == "milvus":
            from . import milvus_builds

            metadata = milvus_builds.session_metadata(self.sessions)
            if build is None:
                return milvus_builds.open_live(coll, self.settings, self.identity, metadata)
            return milvus_builds.open_build(build, coll, session, self.settings,
                                            self.identity, metadata)
        if build is None:
            # No build yet (documents written through the API only): start empty and
            # let the change log fill it.
            info = BuildInfo(0, coll.id, self.identity.model_id, self.identity.dim, "none", 0, 0, 0)
            return FaissCollectionIndex(faiss_index.new_flat(self.identity.dim), info)
        if build.backend != "faiss":
            raise IndexMismatchError(
                f"build {build.id} is a {build.backend} build but SEMSEARCH_VECTOR_STORE="
                f"{self.settings.vector_store} (run `semsearch reindex` to build for it, or "
                f"configure {build.backend})", {"build_id": build.id})
        return builds.open_build(build, self.settings.data_dir, self.identity,
                                 mmap=self.settings.index_mmap)

    def collection_id(self, name: str) -> int:
        if name not in self._ids:
            with self.sessions() as session:
                self._ids[name] = repository.get_collection(session, name).id
        return self._ids[name]
