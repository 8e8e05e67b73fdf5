"""One query's BM25 scores over a lexical index: its top k, and the scores of given passages.

The top k reads the postings of the query's terms and adds them into one score array
over the passages' slots (at a million passages a query reads some half a million
postings: a few milliseconds). The score of given passages, which the ranking asks for
every passage of its candidate entries, comes from each passage's own terms (the
forward index) instead, so it costs what those few passages hold.
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

    # --- the top k --------------------------------------------------------------------
    def top(self, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (passage id, score) pairs, best first."""
        if k <= 0 or not self._terms:
            return []
        out = np.zeros(self._size, np.float32)
        for term in self._terms:
            slots, part = self._part(term)
            np.add.at(out, slots, part)  # a term names a slot once; add.at is the fast one
        if self._allowed is not None:
            out = np.where(self._index._allowed_mask(self._allowed, len(out)), out, 0)
        slots = _top_slots(out, k)
        order = np.argsort(-out[slots], kind="stable")
        pids = self._index._pids[slots[order]]  # a removed passage never scores: no posting names it
        return [(int(p), float(v)) for p, v in zip(pids, out[slots[order]]) if p >= 0]

    # --- given passages ---------------------------------------------------------------
    def at(self, pids: np.ndarray) -> np.ndarray:
        """The score of each passage id (0 for one that shares no term with the query,
        is not indexed, or is outside ``allowed``), from the passage's own terms."""
        index = self._index
        pids = np.asarray(pids, np.int64)
        out = np.zeros(len(pids), np.float64)
        if not self._terms or not len(pids):
            return out
        slots = np.fromiter((index._slot_of.get(p, -1) for p in pids.tolist()), np.int64, len(pids))
        live = np.flatnonzero((slots >= 0) & (slots < self._size))
        if self._allowed is not None:
            live = live[np.isin(pids[live], self._allowed)]
        rows, terms, tfs = index._forward(slots[live])
        weights = {t.term: t.weight for t in self._terms}
        wanted = np.fromiter(weights, np.int64, len(weights))
        order = np.argsort(wanted)
        wanted, weight = wanted[order], np.fromiter(weights.values(), np.float64, len(weights))[order]
        at = np.searchsorted(wanted, terms).clip(0, len(wanted) - 1)
        match = wanted[at] == terms
        lengths = index._lengths[slots[live][rows[match]]]
        tf = tfs[match].astype(np.float32)
        part = tf / (tf + self._offset + lengths * self._scale) * weight[at[match]].astype(np.float32)
        np.add.at(out, live[rows[match]], part.astype(np.float64))
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
