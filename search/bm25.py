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

    def _part(self, term: QueryTerm) -> tuple[np.ndarray, np.ndarray]:
        """(slots, score) of the term's postings, leaving out slots written after the
        query began."""
        p = term.postings
        slots, tfs, lengths = p.slots[:p.size], p.tfs[:p.size], p.lengths[:p.size]
        part = lengths * self._scale  # tf / (tf + k1 (1 - b + b len / average)) × weight
        part += self._offset
        part += tfs
        np.divide(tfs, part, out=part)
        part *= np.float32(term.weight)
        if p.top >= self._size:
            inside = slots < self._size
            slots, part = slots[inside], part[inside]
        return slots, part

    # --- every passage's score: computed once, on first use --------------------------
    def _all(self) -> np.ndarray:
        """The score of every slot below the query's size (0 outside ``allowed``)."""
        if self._scores is None:
            out = np.zeros(self._size, np.float32)
            for term in self._terms:
                slots, part = self._part(term)
                np.add.at(out, slots, part)  # a term names a slot once; add.at is the fast one
            if self._allowed is not None:
                out = np.where(self._index._allowed_mask(self._allowed, len(out)), out, 0)
            self._scores = out
        return self._scores

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
