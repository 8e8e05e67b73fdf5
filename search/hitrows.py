"""What a hit shows of its passage and entry, kept in memory: a passage's row never changes.

A search reads the database only for the passages it has not shown lately.

A stored passage is never edited: a changed entry gets new passages, under new ids that
are never reused (autoincrement), and its old ones are deleted. So the row read for a
passage (its text and kind, its entry's question, answer, category, tags and metadata)
stays right for as long as the passage exists, and the ranking asks only for passages
its passage table holds; a passage deleted through another worker is dropped from that
table within the reload interval, the bound on every cross-worker write.

Each ``SearchService`` keeps its own cache: a reindex gate's service reads an open
transaction whose rows may be rolled back, and its cache goes with it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from cachetools import LRUCache
from sqlalchemy import Connection

from .store.repository import HitRow, hit_rows

# Characters of text held (an answer may run to 20,000): some 16-32 MB of strings.
MAX_CHARS = 8_000_000


def _chars(row: HitRow) -> int:
    return len(row.text) + len(row.question) + len(row.answer) + 64


class HitRows:
    """passage id -> :class:`HitRow`, least recently shown dropped first."""

    def __init__(self, max_chars: int = MAX_CHARS) -> None:
        self._rows: LRUCache[int, HitRow] = LRUCache(maxsize=max_chars, getsizeof=_chars)
        self._lock = threading.Lock()  # ranking threads, CLI and gate threads share a service

    def get(self, connect: Callable[[], AbstractContextManager[Connection]],
            passage_ids: Sequence[int]) -> dict[int, HitRow]:
        """The rows of ``passage_ids`` that exist; ``connect()`` opens a connection for
        the ones not held (one query for all of them)."""
        with self._lock:
            found = {p: row for p in passage_ids if (row := self._rows.get(p)) is not None}
        missing = [p for p in passage_ids if p not in found]
        if missing:
            with connect() as connection:
                read = hit_rows(connection, missing)
            with self._lock:
                for pid, row in read.items():
                    try:
                        self._rows[pid] = row
                    except ValueError:  # cachetools: a row bigger than the cache is not held
                        pass
            found.update(read)
        return found

    def __len__(self) -> int:
        return len(self._rows)
