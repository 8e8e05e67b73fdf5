"""BM25 over jieba words and character n-grams: the lexical signal fused with dense scores.

Dense models miss exact rare terms (product names, error codes, drug names) that a
keyword match catches, and vice versa for paraphrases; fusing both beats either. The
index keeps each passage's tokens so that online changes only re-tokenise what changed;
the BM25 matrix itself is rebuilt lazily (cheap at FAQ scale) on the next search.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

# Particles and punctuation carry no topic; everything else is left to BM25's IDF.
_STOP = set("的了吗呢啊吧呀嘛哦么哈嗯喔哇呗啦") | set(" \t\n,.!?;:'\"()[]{}<>/\\|-_~`@#$%^&*+=，。！？；：、“”‘’（）《》【】…—·")


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it announces its dictionary cache on stderr
    jieba.initialize()
    return jieba


def warm_up() -> None:
    """Load jieba's dictionary now (half a second), e.g. while the model loads."""
    _jieba()


def tokenize(text: str) -> list[str]:
    """Search-mode jieba words (long words also yield their parts), lower-cased, plus the
    text's character unigrams and bigrams (marked ``#``), which still match where the
    word segmentation of a query and a passage differ (colloquial text, typos, terms
    missing from jieba's dictionary): the classic indexing unit of Chinese retrieval."""
    lowered = text.lower()
    words = [t.strip() for t in _jieba().lcut_for_search(lowered)]
    chars = [c for c in lowered if not c.isspace() and c not in _STOP]
    grams = ["#" + c for c in chars] + ["#" + a + b for a, b in zip(chars, chars[1:])]
    return [t for t in words if t and t not in _STOP] + grams


class LexicalIndex:
    """A BM25 index over one collection's passages, keyed by passage id."""

    def __init__(self, passages: Iterable[tuple[int, str]] = ()) -> None:
        self._tokens: dict[int, list[str]] = {}
        self._lock = threading.Lock()
        self._snapshot: tuple[object, np.ndarray] | None = None  # (bm25, ids) or None if dirty
        self.add(passages)

    def __len__(self) -> int:
        return len(self._tokens)

    def add(self, passages: Iterable[tuple[int, str]]) -> None:
        fresh = {pid: tokenize(text) for pid, text in passages if pid not in self._tokens}
        if fresh:
            with self._lock:
                self._tokens.update(fresh)
                self._snapshot = None

    def remove(self, ids: Iterable[int]) -> None:
        with self._lock:
            gone = [pid for pid in ids if self._tokens.pop(int(pid), None) is not None]
            if gone:
                self._snapshot = None

    def _current(self) -> tuple[object, np.ndarray]:
        snapshot = self._snapshot
        if snapshot is not None:
            return snapshot
        import bm25s

        with self._lock:
            if self._snapshot is None:
                ids = np.fromiter(self._tokens.keys(), dtype=np.int64, count=len(self._tokens))
                corpus = [tokens or ["\u0000"] for tokens in self._tokens.values()]
                bm25 = bm25s.BM25()
                if corpus:
                    bm25.index(corpus, show_progress=False)
                self._snapshot = (bm25, ids)
            return self._snapshot

    def scores(self, query: str, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """BM25 score of every passage (ids, scores); passages outside ``allowed`` get 0."""
        bm25, ids = self._current()
        tokens = tokenize(query)
        if len(ids) == 0 or not tokens:
            return ids, np.zeros(len(ids), dtype=np.float32)
        mask = None if allowed is None else np.isin(ids, allowed).astype(np.float32)
        scores = bm25.get_scores(tokens, weight_mask=mask)  # type: ignore[attr-defined]
        return ids, np.asarray(scores, dtype=np.float32)


def top_scores(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best (id, score) pairs with a positive score, best first."""
    if len(ids) == 0:
        return []
    k = min(k, len(ids))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(ids[i]), float(scores[i])) for i in best if scores[i] > 0]


def lookup(ids: np.ndarray, scores: np.ndarray, wanted: Sequence[int]) -> dict[int, float]:
    """Scores of the ``wanted`` ids (absent ones left out), without a Python map over
    every passage: this runs on each hybrid search."""
    hit = np.isin(ids, np.asarray(list(wanted), dtype=np.int64))
    return dict(zip(ids[hit].tolist(), scores[hit].astype(float).tolist()))
