"""FAQ expansion and chunking: one entry becomes the passages that get embedded.

An FAQ entry yields its standard question, each similar question and its answer (split
into chunks when longer than the model takes); which kinds are indexed is a setting.
Articles are always indexed as chunks of title + text. Chunks end at Chinese sentence
boundaries and overlap a little, so that a sentence cut from its context still finds
its neighbour.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from search.documents import FaqEntry, PassageSpec
from search.text import normalize

CountTokens = Callable[[Sequence[str]], list[int]]
# Split after sentence-final punctuation (full- or half-width, closing quotes kept).
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;…\n])[”’」』\")]*")


def split_sentences(text: str) -> list[str]:
    parts, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end > start:
            parts.append(text[start:end])
            start = end
    if start < len(text):
        parts.append(text[start:])
    return [p for p in (s.strip() for s in parts) if p]


def chunk_text(text: str, budget: int, overlap: int, count: CountTokens) -> list[str]:
    """Greedy sentence packing under ``budget`` tokens with ~``overlap`` tokens shared."""
    sentences: list[str] = []
    for sentence in split_sentences(text):
        sentences.extend(_hard_split(sentence, budget, count))
    sizes = count(sentences) if sentences else []
    chunks: list[str] = []
    current: list[int] = []  # sentence indices in the current chunk
    for i, size in enumerate(sizes):
        if current and sum(sizes[j] for j in current) + size > budget:
            chunks.append("".join(sentences[j] for j in current))
            current = _overlap_tail(current, sizes, overlap, budget - size)
        current.append(i)
    if current:
        chunks.append("".join(sentences[j] for j in current))
    return chunks


def _overlap_tail(indices: list[int], sizes: list[int], overlap: int, room: int) -> list[int]:
    tail: list[int] = []
    used = 0
    for j in reversed(indices):
        if used + sizes[j] > min(overlap, room):
            break
        tail.insert(0, j)
        used += sizes[j]
    return tail


def _hard_split(sentence: str, budget: int, count: CountTokens) -> list[str]:
    """A single sentence over budget is cut by characters (rare: no punctuation)."""
    if count([sentence])[0] <= budget:
        return [sentence]
    pieces, step = [], max(1, budget // 2)
    for start in range(0, len(sentence), step):
        pieces.append(sentence[start:start + step])
    return pieces


def expand(entry: FaqEntry, kinds: Sequence[str], *, budget: int, overlap: int,
           count: CountTokens, t2s: bool = False) -> list[PassageSpec]:
    """The passages of one entry, texts normalised, duplicates dropped."""
    norm = lambda s: normalize(s, traditional_to_simplified=t2s)  # noqa: E731
    out: list[PassageSpec] = []
    if entry.doc_type == "article":
        body = norm(entry.question + "\n" + entry.answer)
        for i, chunk in enumerate(chunk_text(body, budget, overlap, count)):
            out.append(PassageSpec("chunk", i, chunk))
        return _dedupe(out)
    if "question" in kinds or not kinds:
        out.append(PassageSpec("question", 0, norm(entry.question)))
    if "similar" in kinds:
        out.extend(PassageSpec("similar", i, norm(q)) for i, q in enumerate(entry.similar_questions))
    if "answer" in kinds and entry.answer.strip():
        answer = norm(entry.answer)
        chunks = chunk_text(answer, budget, overlap, count)
        kind = "answer" if len(chunks) == 1 else "chunk"
        out.extend(PassageSpec(kind, i, c) for i, c in enumerate(chunks))
    return _dedupe(out)


def _dedupe(passages: list[PassageSpec]) -> list[PassageSpec]:
    seen: set[str] = set()
    kept = []
    for p in passages:
        if p.text and p.text not in seen:
            seen.add(p.text)
            kept.append(p)
    return kept
