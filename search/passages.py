"""The in-memory passage table: each passage's entry and kind, each entry's passages.

A search collapses candidate passages to their entries and scores every passage of
those entries; this table answers both questions from arrays, so that the ranking needs
no database round trip (the database is read once, for the fields of the hits shown).

The passages of a loaded build are flat arrays, never changed afterwards. Online writes
(the change log, replayed by the registry together with the vector store) go into a
small overlay: the passages added since, the ones removed, and the entries they touch
with their passage lists as they are now. Readers take the overlay's one reference and
never lock; a writer builds a new overlay and swaps it in.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .arrays import find_sorted
from .documents import PASSAGE_KINDS

KIND_CODES: dict[str, int] = {kind: code for code, kind in enumerate(PASSAGE_KINDS)}
_NO_IDS = np.zeros(0, np.int64)


@dataclass(frozen=True)
class _Overlay:
    """What online writes changed since the build (replaced whole, never mutated)."""

    added: Mapping[int, tuple[int, int]] = field(default_factory=dict)  # pid -> (entry, kind)
    removed: frozenset[int] = frozenset()
    entries: Mapping[int, np.ndarray] = field(default_factory=dict)  # entry -> its pids now


class PassageTable:
    """Passage id -> (entry id, kind code); entry id -> passage ids, for one collection."""

    def __init__(self, ids: np.ndarray, entries: np.ndarray, kinds: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        entries = np.asarray(entries, np.int64)
        by_id = np.argsort(ids, kind="stable")
        self._ids, self._entry, self._kind = ids[by_id], entries[by_id], np.asarray(kinds, np.int8)[by_id]
        by_entry = np.lexsort((self._ids, self._entry))
        self._entry_sorted, self._entry_pids = self._entry[by_entry], self._ids[by_entry]
        self._overlay = _Overlay()
        self._lock = threading.Lock()  # writers only

    @classmethod
    def of_rows(cls, rows: Iterable[tuple[int, int, str]]) -> PassageTable:
        """From (passage id, entry id, kind) rows."""
        ids, entries, kinds = [], [], []
        for pid, entry, kind in rows:
            ids.append(pid)
            entries.append(entry)
            kinds.append(KIND_CODES[kind])
        return cls(np.asarray(ids, np.int64), np.asarray(entries, np.int64),
                   np.asarray(kinds, np.int8))

    def __len__(self) -> int:
        overlay = self._overlay
        return len(self._ids) + len(overlay.added) - len(overlay.removed)

    # --- reads ------------------------------------------------------------------------
    def lookup(self, pids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(entry id, kind code) of each passage id; entry -1 for a passage not held."""
        pids = np.asarray(pids, np.int64)
        overlay = self._overlay
        entries = np.full(len(pids), -1, np.int64)
        kinds = np.zeros(len(pids), np.int8)
        at, held = find_sorted(self._ids, pids)
        entries[held], kinds[held] = self._entry[at[held]], self._kind[at[held]]
        if overlay.added or overlay.removed:
            for i, pid in enumerate(pids.tolist()):
                if pid in overlay.removed:
                    entries[i] = -1
                elif pid in overlay.added:
                    entries[i], kinds[i] = overlay.added[pid]
        return entries, kinds

    def passages_of(self, entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(passage ids, the entry of each) of every passage of ``entries``, grouped by
        entry in the order given."""
        entries = np.asarray(entries, np.int64)
        overlay = self._overlay
        lo = np.searchsorted(self._entry_sorted, entries, "left")
        hi = np.searchsorted(self._entry_sorted, entries, "right")
        if not overlay.entries:
            counts = hi - lo
            starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
            rows = starts + np.arange(int(counts.sum()))
            return self._entry_pids[rows], np.repeat(entries, counts)
        parts, owners = [], []
        for entry, a, b in zip(entries.tolist(), lo.tolist(), hi.tolist()):
            own = overlay.entries.get(entry)
            pids = own if own is not None else self._entry_pids[a:b]
            parts.append(pids)
            owners.append(np.full(len(pids), entry, np.int64))
        if not parts:
            return _NO_IDS, _NO_IDS
        return np.concatenate(parts), np.concatenate(owners)

    # --- online writes ----------------------------------------------------------------
    def apply(self, added: Mapping[int, tuple[int, str]], removed: Iterable[int]) -> None:
        """Passages written since (pid -> (entry, kind)) and removed since; idempotent,
        so a change the table already reflects changes nothing."""
        with self._lock:
            old = self._overlay
            gone = {int(p): entry for p in removed if (entry := self._entry_of(int(p), old)) >= 0}
            fresh = {int(p): (int(e), KIND_CODES[k]) for p, (e, k) in added.items()
                     if int(p) not in gone and self._entry_of(int(p), old) < 0
                     and int(p) not in old.removed}
            if not gone and not fresh:
                return
            entries = dict(old.entries)
            for pid, entry in gone.items():
                now = self._passages_now(entry, entries)
                entries[entry] = now[now != pid]
            for pid, (entry, _) in fresh.items():
                entries[entry] = np.union1d(self._passages_now(entry, entries), [pid])
            self._overlay = _Overlay(
                {p: v for p, v in old.added.items() if p not in gone} | fresh,
                old.removed | {p for p in gone if p not in old.added}, entries)

    def _entry_of(self, pid: int, overlay: _Overlay) -> int:
        """The entry of a passage held now, or -1."""
        if pid in overlay.removed:
            return -1
        if pid in overlay.added:
            return overlay.added[pid][0]
        at = int(np.searchsorted(self._ids, pid))
        return int(self._entry[at]) if at < len(self._ids) and self._ids[at] == pid else -1

    def _passages_now(self, entry: int, entries: Mapping[int, np.ndarray]) -> np.ndarray:
        if entry in entries:
            return entries[entry]
        a = int(np.searchsorted(self._entry_sorted, entry, "left"))
        b = int(np.searchsorted(self._entry_sorted, entry, "right"))
        return self._entry_pids[a:b]
