"""BM25 over jieba words and character n-grams: the lexical signal fused with dense scores.

Dense models miss exact rare terms (product names, error codes, drug names) that a
keyword match catches, and vice versa for paraphrases; fusing both beats either. The
index is inverted: per term, the passages holding it (id, term frequency, passage
length), so a query reads only the postings of its own terms, and an online write adds
or removes one passage's postings instead of rebuilding the index. Scores are BM25 as
Lucene (and bm25s) compute it, k1 1.5 and b 0.75, from the corpus statistics of the
moment.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

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


K1, B = 1.5, 0.75
_EMPTY = "\u0000"  # a passage without tokens still counts in the corpus statistics


class _Postings(NamedTuple):
    """One term's postings; ``size`` of the arrays' rows are in use. A reader takes the
    tuple once: a writer appends past ``size`` or replaces the tuple, never changes the
    rows a reader can see."""

    ids: np.ndarray  # int64 passage ids
    tfs: np.ndarray  # float32 term frequencies
    lengths: np.ndarray  # float32 passage lengths (passages never change: new text, new id)
    size: int


class LexicalIndex:
    """A BM25 inverted index over one collection's passages, keyed by passage id."""

    def __init__(self, passages: Iterable[tuple[int, str]] = ()) -> None:
        self._tokens: dict[int, list[str]] = {}
        self._postings: dict[str, _Postings] = {}
        self._total_length = 0
        self._lock = threading.Lock()  # writers only
        self.add(passages)

    def __len__(self) -> int:
        return len(self._tokens)

    def add(self, passages: Iterable[tuple[int, str]]) -> None:
        fresh = {pid: tokenize(text) or [_EMPTY] for pid, text in passages
                 if pid not in self._tokens}
        if not fresh:
            return
        grouped: dict[str, list[tuple[int, int, int]]] = {}
        for pid, tokens in fresh.items():
            for term, tf in Counter(tokens).items():
                grouped.setdefault(term, []).append((pid, tf, len(tokens)))
        with self._lock:
            for term, rows in grouped.items():
                self._postings[term] = _appended(self._postings.get(term), rows)
            self._tokens.update(fresh)
            self._total_length += sum(len(t) for t in fresh.values())

    def remove(self, ids: Iterable[int]) -> None:
        with self._lock:
            for pid in ids:
                tokens = self._tokens.pop(int(pid), None)
                if tokens is None:
                    continue
                self._total_length -= len(tokens)
                for term in set(tokens):
                    old = self._postings[term]
                    keep = old.ids[:old.size] != int(pid)
                    if keep.all():
                        continue
                    self._postings[term] = _Postings(old.ids[:old.size][keep], old.tfs[:old.size][keep],
                                                     old.lengths[:old.size][keep], int(keep.sum()))

    def scores(self, query: str, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the passages sharing a term with ``query``, in no order;
        passages outside ``allowed`` are left out."""
        n = len(self._tokens)
        tokens = tokenize(query)
        found_ids, found_scores = [], []
        if n and tokens:
            average = np.float32(max(self._total_length, 1) / n)
            for term, times in Counter(tokens).items():
                postings = self._postings.get(term)
                if postings is None or postings.size == 0:
                    continue
                size = postings.size
                idf = np.float32(math.log(1 + (n - size + 0.5) / (size + 0.5)))
                tfs = postings.tfs[:size]
                norm = K1 * ((1 - B) + B * postings.lengths[:size] / average)
                found_ids.append(postings.ids[:size])
                found_scores.append(np.float32(times) * idf * tfs / (norm + tfs))
        if not found_ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        ids, scores = found_ids[0], found_scores[0]
        if len(found_ids) > 1:
            ids, where = np.unique(np.concatenate(found_ids), return_inverse=True)
            scores = np.bincount(where, weights=np.concatenate(found_scores)).astype(np.float32)
        if allowed is not None:
            keep = np.isin(ids, allowed)
            ids, scores = ids[keep], scores[keep]
        return ids, scores.astype(np.float32, copy=False)


def _appended(old: _Postings | None, rows: list[tuple[int, int, int]]) -> _Postings:
    """``old`` with ``rows`` (id, tf, length) after its own: in place past ``size`` when
    the arrays have room, else in arrays twice the size."""
    size = old.size if old is not None else 0
    need = size + len(rows)
    if old is None or need > len(old.ids):
        capacity = max(4, 2 * need)
        ids, tfs, lengths = (np.empty(capacity, np.int64), np.empty(capacity, np.float32),
                             np.empty(capacity, np.float32))
        if old is not None:
            ids[:size], tfs[:size], lengths[:size] = old.ids[:size], old.tfs[:size], old.lengths[:size]
    else:
        ids, tfs, lengths = old.ids, old.tfs, old.lengths
    block = np.asarray(rows, dtype=np.float64)
    ids[size:need] = block[:, 0].astype(np.int64)
    tfs[size:need] = block[:, 1]
    lengths[size:need] = block[:, 2]
    return _Postings(ids, tfs, lengths, need)


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
    the scored passages: this runs on each hybrid search."""
    hit = np.isin(ids, np.asarray(list(wanted), dtype=np.int64))
    return dict(zip(ids[hit].tolist(), scores[hit].astype(float).tolist()))
