"""Fill the embedding cache for many texts, resumably.

Texts already cached are skipped; the rest are encoded longest-first in chunks, and
each chunk is committed on its own, so a reindex killed half-way keeps what it encoded
and a rerun only encodes the remainder.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from search.documents import role_of, text_hash
from search.store import embeddings

CHUNK = 256
Progress = Callable[[int], None]


def missing_texts(session: Session, model_id: str, texts: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(texts))
    cached = embeddings.lookup(session, model_id, [text_hash(t) for t in unique])
    return [t for t in unique if text_hash(t) not in cached]


def fill(sessions: sessionmaker[Session], encoder,  # type: ignore[no-untyped-def]
         passages: Sequence[tuple[str, str]], on_start: Callable[[int], None] | None = None,
         advance: Progress | None = None) -> int:
    """Encode and store every (kind, text) passage not yet cached, each in its role's
    cache space; returns how many texts were encoded."""
    todo: list[tuple[str, str]] = []  # (role, text)
    with sessions() as session:
        for role in ("question", "passage"):
            texts = [text for kind, text in passages if role_of(kind) == role]
            space = encoder.profile.cache_space(encoder.model_id, role)
            todo += [(role, t) for t in missing_texts(session, space, texts)]
    if on_start:
        on_start(len(todo))
    todo.sort(key=lambda item: (item[0], -len(item[1])))  # similar lengths share a chunk
    for start in range(0, len(todo), CHUNK):
        part = todo[start:start + CHUNK]
        for role in dict.fromkeys(r for r, _ in part):
            chunk = [t for r, t in part if r == role]
            vectors = encoder.encode(chunk, role).vectors
            with sessions.begin() as session:
                embeddings.store(session, encoder.profile.cache_space(encoder.model_id, role),
                                 chunk, vectors)
        if advance:
            advance(len(part))
    return len(todo)
