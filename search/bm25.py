"""One query's BM25 scores over a lexical index: its top k, and the scores of given passages.

The postings of the query's terms are added into one score array over the passages'
slots, once per query (at a million passages a query reads some half a million
postings: a few milliseconds); the top k and the score of given passages (every
passage of the ranking's candidate entries) are both read from it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .lexical import LexicalIndex, _Postings


_TOGETHER = 4096  # postings shorter than this are scored together with the query's others


class QueryTerm(NamedTuple):
    term: int  # term id
    weight: float  # idf × how often the query holds the term: the most the term adds
    postings: _Postings  # as they were when the query began


class LexicalScores:
    """BM25 of one query: ``top(k)`` and ``at(pids)``; only passages sharing a term
    with the query score above zero."""

    def __init__(self, index: LexicalIndex, terms: Sequence[QueryTerm], scale: float,
                 offset: float, size: int, allowed: np.ndarray | None) -> None:
        self._index, self._size, self._allowed = index, size, allowed
        self._terms = list(terms)
        self._scale, self._offset = np.float32(scale), np.float32(offset)
        self._scores: np.ndarray | None = None  # every slot's score, once asked for

    # --- every passage's score: computed once, on first use --------------------------
    def _all(self) -> np.ndarray:
        """The score of every slot below the query's size (0 outside ``allowed``)."""
        if self._scores is None:
            out = np.zeros(self._size, np.float32)
            # A question has some twenty terms, most with short postings: those are scored
            # in one pass; a long one on its own, which saves copying it.
            short = [t for t in self._terms if t.postings.size < _TOGETHER]
            groups = ([short] if short else []) + [[t] for t in self._terms
                                                    if t.postings.size >= _TOGETHER]
            for group in groups:
                slots, part = self._postings(group)
                np.add.at(out, slots, part)  # a term names a slot once; add.at is the fast one
            if self._allowed is not None:
                out = np.where(self._index._allowed_mask(self._allowed, len(out)), out, 0)
            self._scores = out
        return self._scores

    def _postings(self, terms: list[QueryTerm]) -> tuple[np.ndarray, np.ndarray]:
        """(slot, score) of each posting of ``terms``, leaving out slots written after
        the query began."""
        posted = [t.postings for t in terms]
        weight: np.floating | np.ndarray
        if len(posted) == 1:
            p = posted[0]
            slots, tfs, part = p.slots[:p.size], p.tfs[:p.size], p.lengths[:p.size] * self._scale
            weight = np.float32(terms[0].weight)
        else:
            slots = np.concatenate([p.slots[:p.size] for p in posted])
            tfs = np.concatenate([p.tfs[:p.size] for p in posted])
            part = np.concatenate([p.lengths[:p.size] for p in posted])
            part *= self._scale
            weight = np.repeat(np.asarray([t.weight for t in terms], np.float32),
                               [p.size for p in posted])
        part += self._offset  # tf / (tf + k1 (1 - b + b len / average)) × weight
        part += tfs
        np.divide(tfs, part, out=part)
        part *= weight
        if max(p.top for p in posted) >= self._size:
            inside = slots < self._size
            slots, part = slots[inside], part[inside]
        return slots, part

    def top(self, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (passage id, score) pairs, best first."""
        if k <= 0 or not self._terms:
            return []
        out = self._all()
        slots = _top_slots(out, k)
        order = np.argsort(-out[slots], kind="stable")
        pids = self._index._pids[slots[order]]  # a removed passage never scores: no posting names it
        return [(int(p), float(v)) for p, v in zip(pids, out[slots[order]]) if p >= 0]

    def at(self, pids: np.ndarray) -> np.ndarray:
        """The score of each passage id (0 for one that shares no term with the query,
        is not indexed, was written after the query began, or is outside ``allowed``)."""
        pids = np.asarray(pids, np.int64)
        out = np.zeros(len(pids), np.float64)
        if not self._terms or not len(pids):
            return out
        slots = self._index._slots(pids)
        live = (slots >= 0) & (slots < self._size)
        out[live] = self._all()[slots[live]]
        return out


def _top_slots(scores: np.ndarray, k: int) -> np.ndarray:
    """The slots of the ``k`` highest positive scores, in no order. The k-th highest of
    every 32nd score is a floor that at least k scores reach, so only those few are
    partitioned: a tenth of the time of partitioning them all."""
    sample = scores[::32]
    if k > 0 and len(sample) > 4 * k:
        floor = np.partition(sample, len(sample) - k)[len(sample) - k]
        slots = np.flatnonzero(scores >= floor) if floor > 0 else np.flatnonzero(scores)
    else:
        slots = np.flatnonzero(scores)
    if k <= 0:
        return slots[:0]
    if len(slots) > k:
        slots = slots[np.argpartition(scores[slots], len(slots) - k)[len(slots) - k:]]
    return slots
