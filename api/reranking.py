"""Texts ranked against a query by the bi-encoder (the model semsearch serves): the query
in the query role, the texts as passages, scored by cosine, best first."""
from __future__ import annotations

from search.encoder import Kind, validate_texts
from search.errors import InputTooLargeError, InvalidInputError
from search.text import normalize

from .engine import Engine
from .routes.embeddings import check_texts

ROLES: dict[str | None, Kind] = {None: "query", "query": "query", "question": "question",
                                 "passage": "passage", "document": "passage"}


def role_of(prompt_name: str | None) -> Kind:
    """The encoder role a TEI ``prompt_name`` picks (none: query)."""
    if prompt_name not in ROLES:
        raise InvalidInputError(f"prompt_name {prompt_name!r} is not one of "
                                "query, question, passage, document")
    return ROLES[prompt_name]


def check_passages(engine: Engine, texts: object, limit: int) -> list[str]:
    """Texts to encode as passages: up to ``SEMSEARCH_MAX_ANSWER_CHARS`` each (a query's
    limit is shorter), normalised as stored texts are."""
    texts = validate_texts(texts)
    if len(texts) > limit:
        raise InputTooLargeError(f"{len(texts)} texts; the limit is {limit}", {"limit": limit})
    max_chars = engine.settings.max_answer_chars
    t2s = engine.encoder.profile.traditional_to_simplified
    clean = []
    for i, text in enumerate(texts):
        if len(text) > max_chars:
            raise InputTooLargeError(f"text #{i} is {len(text)} characters; the limit is "
                                     f"{max_chars}", {"limit": max_chars})
        clean.append(normalize(text, traditional_to_simplified=t2s))
        if not clean[-1]:
            raise InvalidInputError(f"text #{i} is empty after normalisation")
    return clean


def check_length(engine: Engine, texts: list[str], role: str, truncate: bool | None) -> None:
    """TEI refuses an input over the model's maximum unless asked to truncate it."""
    if truncate:
        return
    encoder = engine.encoder
    prefix = encoder.profile.prefix(role)
    longest = max(encoder.count_tokens([prefix + t for t in texts]))
    limit = encoder.profile.max_length - 2  # the special tokens
    if longest > limit:
        raise InputTooLargeError(f"Input validation error: `inputs` must have less than "
                                 f"{encoder.profile.max_length} tokens. Given: {longest + 2}",
                                 {"limit": encoder.profile.max_length})


async def rank(engine: Engine, query: str, texts: list[str], limit: int,
               truncate: bool | None = True) -> list[tuple[int, float]]:
    """``(index, cosine)`` of each text, best first."""
    clean_query = check_texts(engine, [query], 1, "queries")
    clean = check_passages(engine, texts, limit)
    check_length(engine, clean_query, "query", truncate)
    check_length(engine, clean, "passage", truncate)
    query_vector = (await engine.batcher.encode(clean_query, "query"))[0]
    scores = (await engine.batcher.encode(clean, "passage")) @ query_vector
    return sorted(enumerate(float(s) for s in scores), key=lambda pair: -pair[1])


def relevance(cosine: float) -> float:
    """A cosine as a 0–1 relevance score (rerank clients expect that range)."""
    return round(min(max(cosine, 0.0), 1.0), 6)
