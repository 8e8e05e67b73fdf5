"""Fill the embedding cache for many texts, resumably.

Texts already cached are skipped; the rest are encoded longest-first in chunks, and
each chunk is committed on its own, so a reindex killed half-way keeps what it encoded
and a rerun only encodes the remainder.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from search.documents import role_of, text_hash
from search.encoder import TextEncoder
from search.store import embeddings

CHUNK = 256
Progress = Callable[[int], None]


def missing_texts(session: Session, model_id: str, texts: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(texts))
    cached = embeddings.lookup(session, model_id, [text_hash(t) for t in unique])
    return [t for t in unique if text_hash(t) not in cached]


def fill(sessions: sessionmaker[Session], encoder: TextEncoder,
         passages: Sequence[tuple[str, str]], on_start: Callable[[int], None] | None = None,
         advance: Progress | None = None) -> int:
    """Encode and store every (kind, text) passage not yet cached, each in its role's
    cache space; returns how many texts were encoded."""
    by_role = embeddings.spaces(encoder)
    with sessions() as session:
        todo = {role: missing_texts(session, space, [t for k, t in passages if role_of(k) == role])
                for role, space in by_role.items()}
    total = sum(len(texts) for texts in todo.values())
    if on_start:
        on_start(total)
    for role, texts in todo.items():
        texts.sort(key=len, reverse=True)  # similar lengths share a chunk: little padding
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start:start + CHUNK]
            vectors = encoder.encode(chunk, role).vectors
            with sessions.begin() as session:
                embeddings.store(session, by_role[role], chunk, vectors)
            if advance:
                advance(len(chunk))
    return total
