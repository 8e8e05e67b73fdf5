"""Fill the embedding cache for many texts, resumably.

Texts already cached are skipped; the rest are encoded longest-first in chunks, and
each chunk is committed on its own, so a reindex killed half-way keeps what it encoded
and a rerun only encodes the remainder.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from search.documents import text_hash
from search.store import embeddings

CHUNK = 256
Progress = Callable[[int], None]


def missing_texts(session: Session, model_id: str, texts: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(texts))
    cached = embeddings.lookup(session, model_id, [text_hash(t) for t in unique])
    return [t for t in unique if text_hash(t) not in cached]


def fill(sessions: sessionmaker[Session], encoder, texts: Sequence[str],  # type: ignore[no-untyped-def]
         on_start: Callable[[int], None] | None = None, advance: Progress | None = None) -> int:
    """Encode and store every text not yet cached; returns how many were encoded."""
    with sessions() as session:
        todo = missing_texts(session, encoder.model_id, texts)
    if on_start:
        on_start(len(todo))
    todo.sort(key=len, reverse=True)  # similar lengths share a chunk: little padding
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        vectors = encoder.encode_passages(chunk)
        with sessions.begin() as session:
            embeddings.store(session, encoder.model_id, chunk, vectors)
        if advance:
            advance(len(chunk))
    return len(todo)
