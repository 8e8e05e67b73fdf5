"""Index builds: the consistency guard, loading, and catching up with the change log.

A build is only served when everything it recorded matches the running configuration
(model, dimension, pooling, normalisation) and its file matches its record (sha256,
vector count). Otherwise loading fails with a message naming each difference, and the
caller keeps whatever good build it already holds.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import hubness
from . import index as faiss_index
from .encoder import TextEncoder
from .errors import IndexCorruptError, IndexMismatchError
from .lexical import LexicalIndex
from .store import embeddings, repository
from .store.models import IndexBuild
from .vectorstore import BuildInfo, FaissCollectionIndex, FileStamp, VectorStore

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Identity:
    """What a build must agree with to be served by this configuration."""

    model_id: str
    dim: int
    pooling: str
    normalization: str

    def differences(self, build: IndexBuild) -> list[str]:
        out = []
        for field in ("model_id", "dim", "pooling", "normalization"):
            recorded, wanted = getattr(build, field), getattr(self, field)
            if recorded != wanted:
                out.append(f"{field}: build has {recorded!r}, configured {wanted!r}")
        return out


SIDE_FILES = ("lexical", "density")


def side_file(data_dir: Path, build: IndexBuild, kind: str) -> Path:
    """Where what a build saves beside its index goes (``kind`` in SIDE_FILES): its BM25
    index, its hubness densities. Named after its FAISS file or Milvus collection."""
    return data_dir / "builds" / f"{Path(build.file).name}.{kind}.npz"


def load_lexical(data_dir: Path, build: IndexBuild | None) -> LexicalIndex | None:
    """The build's saved lexical index, or None (with the reason logged) when it has
    none that can be read: an older build, another tokeniser version, a damaged file."""
    if build is None:
        return None
    path = side_file(data_dir, build, "lexical")
    try:
        index = LexicalIndex.load(path)
    except FileNotFoundError:
        log.info("build %s has no saved lexical index; tokenising its passages", build.id)
        return None
    except (OSError, ValueError) as exc:
        log.warning("build %s: lexical index %s cannot be read (%s); tokenising its passages",
                    build.id, path.name, exc)
        return None
    if len(index) != build.vector_count:
        log.warning("build %s: lexical index %s holds %d passages, the build %d; tokenising "
                    "its passages", build.id, path.name, len(index), build.vector_count)
        return None
    return index


def load_densities(data_dir: Path, build: IndexBuild | None
                   ) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The build's saved hubness densities (ids, densities, k), or None: computed as
    passages reach candidate lists instead."""
    if build is None:
        return None
    path = side_file(data_dir, build, "density")
    try:
        return hubness.load(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("build %s: densities %s cannot be read (%s); computing them as needed",
                    build.id, path.name, exc)
        return None


def active_build(session: Session, collection_id: int) -> IndexBuild | None:
    return session.scalar(select(IndexBuild).where(IndexBuild.collection_id == collection_id,
                                                   IndexBuild.active.is_(True)))


def verify(build: IndexBuild, identity: Identity) -> None:
    problems = identity.differences(build)
    if problems:
        raise IndexMismatchError(
            f"build {build.id} was made with a different configuration: " + "; ".join(problems)
            + " (reindex with the configured model, or configure the build's)",
            {"build_id": build.id, "differences": problems})


def open_build(build: IndexBuild, data_dir: Path, identity: Identity, *,
               mmap: bool = False) -> FaissCollectionIndex:
    """Load a build's file after checking its record, its checksum and its size.

    Messages name the file relative to the data directory (``build.file``): they reach
    anonymous callers through ``/ready`` and 503 answers.
    """
    verify(build, identity)
    path = data_dir / build.file
    if not path.exists():
        raise IndexCorruptError(f"build {build.id}: index file {build.file} is missing",
                                {"build_id": build.id})
    stamp = FileStamp.of(path, build.file)  # before reading: a later change is then seen
    digest = faiss_index.sha256_file(path)
    if digest != build.sha256:
        raise IndexCorruptError(
            f"build {build.id}: index file {build.file} is corrupt (sha256 {digest[:12]}… "
            f"but {build.sha256[:12]}… was recorded); run `semsearch reindex SOURCE --rebuild`",
            {"build_id": build.id})
    base = faiss_index.load(path, mmap=mmap, shown=build.file)
    if base.ntotal != build.vector_count or base.d != build.dim:
        raise IndexCorruptError(
            f"build {build.id}: index file {build.file} holds {base.ntotal} vectors of "
            f"dimension {base.d}, the database recorded {build.vector_count} of dimension "
            f"{build.dim}", {"build_id": build.id})
    info = BuildInfo(build.id, build.collection_id, build.model_id, build.dim, build.index_kind,
                     build.nprobe, build.vector_count, build.change_seq)
    return FaissCollectionIndex(base, info, stamp)


@dataclass
class Applied:
    """What a catch-up applied: passages added (id -> (entry id, kind, text)) and ids
    removed."""

    added: dict[int, tuple[int, str, str]]
    removed: set[int]


def catch_up(store: VectorStore, session: Session, encoder: TextEncoder) -> Applied:
    """Apply the change log after the store's watermark.

    Vectors come from the embedding cache (writers fill it before they commit); a text
    missing from it is encoded, so the index never lacks what the database has.
    """
    changes = repository.changes_since(session, store.info.collection_id, store.change_seq)
    if not changes:
        return Applied({}, set())
    added = [pid for _, pid, op in changes if op == "add"]
    removed = {pid for _, pid, op in changes if op == "remove"}
    rows = repository.passages_by_id(session, [p for p in added if p not in removed])
    if rows:
        ids = np.fromiter(rows.keys(), dtype=np.int64)
        _, kinds, texts = zip(*rows.values())
        vectors, _ = embeddings.stored_vectors(session, encoder, kinds, texts)
        store.add(ids, vectors)
    store.remove(np.fromiter(removed, dtype=np.int64))
    store.change_seq = changes[-1][0]
    return Applied(rows, removed)


def identity_for(encoder: TextEncoder) -> Identity:
    from .text import normalization_version

    profile = encoder.profile
    return Identity(encoder.model_id, encoder.dim, profile.pooling,
                    normalization_version(profile.traditional_to_simplified)
                    + profile.stored_prefixes())


def is_current(session: Session, collection_id: int, identity: Identity,
               backend: str = "faiss") -> bool:
    """True when the active build matches the configuration (vector store included)
    and the change log."""
    build = active_build(session, collection_id)
    return (build is not None and not identity.differences(build) and build.backend == backend
            and build.change_seq == repository.last_change_seq(session, collection_id))
