"""The embedding cache: passage vectors by (model id, text hash).

The model id is the profile's cache space for the passage's role, so a question encoded
with a question prefix never shares an entry with the same text encoded as a passage.

Unchanged texts are never re-embedded: a reindex or an upsert looks every passage up
here first and encodes only the misses. The cache also makes the FAISS file
rebuildable from the database alone.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Insert, select
from sqlalchemy.orm import Session

from ..documents import STORED_ROLES, StoredRole, role_of, text_hash
from .models import EmbeddingCache, utcnow

if TYPE_CHECKING:
    from ..encoder import TextEncoder

_LOOKUP_CHUNK = 500  # stay well under SQLite's bound-parameter limit
Encode = Callable[[list[str]], np.ndarray]


def lookup(session: Session, model_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), _LOOKUP_CHUNK):
        chunk = unique[start:start + _LOOKUP_CHUNK]
        rows = session.execute(select(EmbeddingCache.text_hash, EmbeddingCache.vector)
                               .where(EmbeddingCache.model_id == model_id,
                                      EmbeddingCache.text_hash.in_(chunk)))
        for digest, blob in rows:
            found[digest] = np.frombuffer(blob, dtype=np.float32)
    return found


def store(session: Session, model_id: str, texts: Sequence[str], vectors: np.ndarray) -> None:
    rows = {}
    for text, vector in zip(texts, vectors):
        vector = np.asarray(vector, dtype=np.float32)
        rows[text_hash(text)] = {"model_id": model_id, "text_hash": text_hash(text),
                                 "dim": int(vector.shape[0]), "vector": vector.tobytes(),
                                 "created_at": utcnow()}
    insert_rows(session, list(rows.values()))


def insert_rows(session: Session, rows: list[dict]) -> None:
    """Bulk insert; a row already present (a concurrent writer's, equal) is kept."""
    if rows:
        session.execute(_insert_ignoring_duplicates(session), rows)


def _insert_ignoring_duplicates(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(EmbeddingCache).on_conflict_do_nothing()
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(EmbeddingCache).on_conflict_do_nothing()
    raise NotImplementedError(f"embedding cache writes on {dialect} are not supported")


def vectors_for(session: Session, model_id: str, texts: Sequence[str], encode: Encode,
                on_encoded: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
    """Vectors for ``texts`` from the cache, encoding and storing the misses.

    Returns the (n, dim) matrix in input order and the number of texts encoded.
    """
    hashes = [text_hash(t) for t in texts]
    cached = lookup(session, model_id, hashes)
    missing = list(dict.fromkeys(t for t, h in zip(texts, hashes) if h not in cached))
    if missing:
        fresh = encode(missing)
        store(session, model_id, missing, fresh)
        for text, vector in zip(missing, fresh):
            cached[text_hash(text)] = vector
        if on_encoded:
            on_encoded(len(missing))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0
    return np.stack([cached[h] for h in hashes]).astype(np.float32, copy=False), len(missing)


def spaces(encoder: TextEncoder) -> dict[StoredRole, str]:
    """The cache space of each role of stored text (question, passage) for ``encoder``."""
    return {role: encoder.profile.cache_space(encoder.model_id, role) for role in STORED_ROLES}


def stored_vectors(session: Session, encoder: TextEncoder, kinds: Sequence[str],
                   texts: Sequence[str]) -> tuple[np.ndarray, int]:
    """Vectors for stored passages of the given kinds, each encoded in its role (see
    ``role_of``) and cached under that role's space; in input order."""
    out: np.ndarray | None = None
    encoded = 0
    for role, space in spaces(encoder).items():
        picked = [i for i, kind in enumerate(kinds) if role_of(kind) == role]
        if not picked:
            continue
        vectors, n = vectors_for(session, space, [texts[i] for i in picked], _encode_as(encoder, role))
        if out is None:
            out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
        out[picked] = vectors
        encoded += n
    if out is None:
        return np.zeros((0, 0), dtype=np.float32), 0
    return out, encoded


def _encode_as(encoder: TextEncoder, role: StoredRole) -> Encode:
    return lambda batch: encoder.encode(batch, role).vectors
