"""BM25 over jieba words (jieba-rs) and character n-grams: the lexical signal fused with dense scores.

Dense models miss exact rare terms (product names, error codes, drug names) that a
keyword match catches, and vice versa for paraphrases; fusing both beats either. Scores
are BM25 as Lucene (and bm25s) compute it, k1 1.5 and b 0.75, from the corpus
statistics of the moment.

The index is inverted: per term, the passages holding it (slot, term frequency, passage
length), so a query reads only the postings of its own terms (``search.bm25`` adds them
into one score array per query). A passage's slot is its row in the index; its
terms are kept too (the forward index), so that an online write adds or removes one
passage's postings instead of rebuilding anything. The postings of a build are one set
of flat arrays (``_Base``); a term an online write touches gets arrays of its own.

Each index build saves its lexical index beside it (:meth:`LexicalIndex.save`), so
that a server starts without tokenising the corpus, and the next build tokenises only
the passages that are new (:meth:`LexicalIndex.build` with ``reuse``).
"""
from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import numpy as np

from . import npzfile
from .arrays import find_sorted
from .bm25 import LexicalScores, QueryTerm

# Particles and punctuation carry no topic; everything else is left to BM25's IDF.
_STOP = (set("的了吗呢啊吧呀嘛哦么哈嗯喔哇呗啦")
         | set(" \t\n,.!?;:'\"()[]{}<>/\\|-_~`@#$%^&*+=，。！？；：、“”‘’（）《》【】…—·"))


@lru_cache(maxsize=1)
def _jieba() -> ModuleType:
    import rjieba  # jieba-rs: jieba's dictionary and algorithm, a dozen times faster

    return rjieba


def warm_up() -> None:
    """Load jieba's dictionary now (a tenth of a second), e.g. while the model loads."""
    _jieba()


def tokenize(text: str) -> list[str]:
    """Search-mode jieba words (long words also yield their parts), lower-cased, plus the
    text's character unigrams and bigrams (marked ``#``), which still match where the
    word segmentation of a query and a passage differ (colloquial text, typos, terms
    missing from jieba's dictionary): the classic indexing unit of Chinese retrieval."""
    lowered = text.lower()
    words = [t.strip() for t in _jieba().cut_for_search(lowered)]
    chars = [c for c in lowered if not c.isspace() and c not in _STOP]
    grams = ["#" + c for c in chars] + ["#" + a + b for a, b in zip(chars, chars[1:])]
    return [t for t in words if t and t not in _STOP] + grams


K1, B = 1.5, 0.75
_EMPTY = "\u0000"  # a passage without tokens still counts in the corpus statistics
# Bump when tokenize() changes: a saved index of another version is not read.
FORMAT = 2  # 2: jieba-rs, which keeps a hyphenated latin word (covid-19) whole
_NO_SLOTS = np.zeros(0, np.int32)
_NO_VALUES = np.zeros(0, np.float32)


class _Postings(NamedTuple):
    """One term's postings of its own; ``size`` of the arrays' rows are in use. A reader
    takes the tuple once: a writer appends past ``size`` or replaces the tuple, never
    changes the rows a reader can see."""

    slots: np.ndarray  # int32 passage slots
    tfs: np.ndarray  # float32 term frequencies
    lengths: np.ndarray  # float32 passage lengths (passages never change: new text, new id)
    size: int
    top: int  # the highest slot in use (a reader's score array may predate it)


class _Base(NamedTuple):
    """What a bulk build made, never changed afterwards: the forward index (per slot, its
    terms and their frequencies) and the postings (per term id, its slots), both flat."""

    pids: np.ndarray  # int64, slot -> passage id as built
    lengths: np.ndarray  # float32, slot -> number of tokens
    forward_ptr: np.ndarray  # int64, slot s's terms are forward_terms[ptr[s]:ptr[s + 1]]
    forward_terms: np.ndarray  # int32 term ids
    forward_tfs: np.ndarray  # float32
    ptr: np.ndarray  # int64, term t's postings are slots[ptr[t]:ptr[t + 1]]
    slots: np.ndarray  # int32
    tfs: np.ndarray  # float32
    posting_lengths: np.ndarray  # float32, the passage length of each posting

    @classmethod
    def empty(cls) -> _Base:
        zero = np.zeros(1, np.int64)
        return cls(np.zeros(0, np.int64), _NO_VALUES, zero, _NO_SLOTS, _NO_VALUES, zero,
                   _NO_SLOTS, _NO_VALUES, _NO_VALUES)

    @classmethod
    def of(cls, pids: np.ndarray, lengths: np.ndarray, forward_ptr: np.ndarray,
           forward_terms: np.ndarray, forward_tfs: np.ndarray, vocabulary: int) -> _Base:
        """Invert a forward index (terms sorted by term id within each slot or not)."""
        order = np.argsort(forward_terms, kind="stable")  # slots stay ascending per term
        slot_of_row = np.repeat(np.arange(len(pids), dtype=np.int32), np.diff(forward_ptr))
        slots = slot_of_row[order]
        ptr = np.zeros(vocabulary + 1, np.int64)
        np.cumsum(np.bincount(forward_terms, minlength=vocabulary), out=ptr[1:])
        return cls(pids, lengths, forward_ptr, forward_terms, forward_tfs, ptr, slots,
                   forward_tfs[order], lengths[slots])


class LexicalIndex:
    """A BM25 inverted index over one collection's passages, keyed by passage id."""

    def __init__(self, passages: Iterable[tuple[int, str]] = ()) -> None:
        self._vocab: dict[str, int] = {}
        self._base = _Base.empty()
        self._own: dict[int, _Postings] = {}  # term id -> postings that left the base
        self._added_terms: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # slot -> (terms, tfs)
        self._pids = np.zeros(0, np.int64)  # slot -> passage id, -1 once removed
        self._lengths = _NO_VALUES  # slot -> number of tokens
        self._used = 0  # slots handed out
        self._slot_of: dict[int, int] = {}
        self._by_pid = (np.zeros(0, np.int64), np.zeros(0, np.int64))  # see _set_base
        self._total_length = 0
        self._lock = threading.Lock()  # writers only
        self._bulk((pid, tokenize(text) or [_EMPTY]) for pid, text in passages)

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, pid: int) -> bool:
        return pid in self._slot_of

    # --- building ---------------------------------------------------------------------
    @classmethod
    def build(cls, passages: Iterable[tuple[int, str]],
              reuse: LexicalIndex | None = None) -> LexicalIndex:
        """An index of ``passages``, taking the terms of those ``reuse`` holds from it
        instead of tokenising them again."""
        if reuse is None or not len(reuse):
            return cls(passages)
        index = cls()
        index._vocab = dict(reuse._vocab)  # reused term ids stay valid
        fresh: list[tuple[int, str]] = []
        kept: list[tuple[int, str]] = []
        for pid, text in passages:
            (kept if pid in reuse._slot_of else fresh).append((pid, text))
        parts = [reuse._terms_of(reuse._slot_of[pid]) for pid, _ in kept]
        for pid, text in fresh:
            parts.append(index._term_ids(tokenize(text) or [_EMPTY]))
        pids = np.fromiter((pid for pid, _ in kept + fresh), np.int64, len(kept) + len(fresh))
        index._install(pids, parts)
        return index

    def _term_ids(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(tokens)
        vocab = self._vocab
        terms = np.fromiter((vocab.setdefault(t, len(vocab)) for t in counts), np.int32, len(counts))
        return terms, np.fromiter(counts.values(), np.float32, len(counts))

    def _bulk(self, tokenized: Iterable[tuple[int, list[str]]]) -> None:
        """Install the passages, each one's terms counted as it comes (a million token
        lists held at once would take gigabytes)."""
        pids, parts = [], []
        for pid, tokens in tokenized:
            pids.append(pid)
            parts.append(self._term_ids(tokens))
        if pids:
            self._install(np.asarray(pids, dtype=np.int64), parts)

    def _install(self, pids: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Make this (empty) index hold ``pids`` with their (terms, tfs), in that order
        of slots; duplicate ids keep their first."""
        _, first = np.unique(pids, return_index=True)
        if len(first) < len(pids):
            first.sort()
            pids, parts = pids[first], [parts[i] for i in first.tolist()]
        sizes = np.fromiter((len(t) for t, _ in parts), np.int64, len(parts))
        ptr = np.zeros(len(parts) + 1, np.int64)
        np.cumsum(sizes, out=ptr[1:])
        terms = np.concatenate([t for t, _ in parts]) if parts else _NO_SLOTS
        tfs = np.concatenate([f for _, f in parts]) if parts else _NO_VALUES
        lengths = np.add.reduceat(tfs, ptr[:-1]).astype(np.float32) if len(tfs) else _NO_VALUES
        self._set_base(_Base.of(pids, lengths, ptr, terms.astype(np.int32, copy=False),
                                tfs.astype(np.float32, copy=False), len(self._vocab)))

    def _set_base(self, base: _Base) -> None:
        self._base = base
        self._pids = base.pids.copy()
        self._lengths = base.lengths
        self._used = len(base.pids)
        self._slot_of = dict(zip(base.pids.tolist(), range(len(base.pids))))
        order = np.argsort(base.pids, kind="stable")  # the build's slots by passage id
        self._by_pid = (base.pids[order], order)
        self._total_length = int(base.lengths.sum())

    # --- online writes ----------------------------------------------------------------
    def add(self, passages: Iterable[tuple[int, str]]) -> None:
        fresh: dict[int, list[str]] = {}
        for pid, text in passages:
            if pid not in self._slot_of and pid not in fresh:
                fresh[pid] = tokenize(text) or [_EMPTY]
        if not fresh:
            return
        with self._lock:
            if not self._slot_of and not self._own:  # empty: one bulk build
                self._bulk(fresh.items())
                return
            need = self._used + len(fresh)
            if need > len(self._pids):  # grow before any posting names a new slot
                pids = np.full(max(2 * need, 16), -1, np.int64)
                lengths = np.zeros(len(pids), np.float32)
                pids[:self._used], lengths[:self._used] = self._pids[:self._used], self._lengths[:self._used]
                self._lengths, self._pids = lengths, pids
            grouped: dict[int, list[tuple[int, float, float]]] = {}
            placed = []
            for pid, tokens in fresh.items():
                slot = self._used
                terms, tfs = self._term_ids(tokens)
                self._added_terms[slot] = (terms, tfs)
                self._lengths[slot] = len(tokens)
                self._pids[slot] = pid
                for term, tf in zip(terms.tolist(), tfs.tolist()):
                    grouped.setdefault(term, []).append((slot, tf, float(len(tokens))))
                placed.append((pid, slot))
                self._used += 1
            for term, rows in grouped.items():
                self._own[term] = _appended(self._postings_of(term), rows)
            self._slot_of.update(placed)
            self._total_length += sum(len(t) for t in fresh.values())

    def remove(self, ids: Iterable[int]) -> None:
        with self._lock:
            for pid in ids:
                slot = self._slot_of.pop(int(pid), None)
                if slot is None:
                    continue
                terms, _ = self._terms_of(slot)
                self._total_length -= int(self._lengths[slot])
                self._pids[slot] = -1
                self._added_terms.pop(slot, None)
                for term in terms.tolist():
                    old = self._postings_of(term)
                    keep = old.slots[:old.size] != slot
                    self._own[term] = _Postings(old.slots[:old.size][keep], old.tfs[:old.size][keep],
                                                old.lengths[:old.size][keep], int(keep.sum()), old.top)

    def _terms_of(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        if slot in self._added_terms:
            return self._added_terms[slot]
        a, b = self._base.forward_ptr[slot], self._base.forward_ptr[slot + 1]
        return self._base.forward_terms[a:b], self._base.forward_tfs[a:b]

    def _postings_of(self, term: int) -> _Postings:
        own = self._own.get(term)
        if own is not None:
            return own
        base = self._base
        if term >= len(base.ptr) - 1:
            return _Postings(_NO_SLOTS, _NO_VALUES, _NO_VALUES, 0, -1)
        a, b = base.ptr[term], base.ptr[term + 1]
        return _Postings(base.slots[a:b], base.tfs[a:b], base.posting_lengths[a:b], int(b - a),
                         len(base.pids) - 1)

    # --- queries ----------------------------------------------------------------------
    def scores(self, query: str, allowed: np.ndarray | None = None) -> LexicalScores:
        """The BM25 scores of ``query``, with the corpus statistics of now; passages
        outside ``allowed`` are left out."""
        n = len(self._slot_of)
        terms = []
        for term, times in Counter(tokenize(query)).items():
            tid = self._vocab.get(term)
            if tid is None or not n:
                continue
            postings = self._postings_of(tid)
            if postings.size:
                idf = math.log(1 + (n - postings.size + 0.5) / (postings.size + 0.5))
                terms.append(QueryTerm(tid, times * idf, postings))
        # tf / (tf + k1 (1 - b + b len / average)) = tf / (tf + offset + scale len)
        return LexicalScores(self, terms, scale=K1 * B * n / max(self._total_length, 1),
                             offset=K1 * (1 - B), size=len(self._pids), allowed=allowed)

    def _slots(self, pids: np.ndarray) -> np.ndarray:
        """The slot of each passage id, -1 for one not indexed: the build's passages by
        binary search, those written online from the map."""
        sorted_pids, slots_of = self._by_pid
        out = np.full(len(pids), -1, np.int64)
        at, built = find_sorted(sorted_pids, pids)
        slots = slots_of[at[built]]
        out[built] = np.where(self._pids[slots] == pids[built], slots, -1)  # -1: removed
        if self._used > len(sorted_pids):  # passages written online
            slot_of = self._slot_of
            for i in np.flatnonzero(out < 0).tolist():
                out[i] = slot_of.get(int(pids[i]), -1)
        return out

    def _allowed_mask(self, allowed: np.ndarray, size: int) -> np.ndarray:
        mask = np.zeros(size, bool)
        slots = self._slots(allowed)
        mask[slots[(slots >= 0) & (slots < size)]] = True
        return mask

    # --- files ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the index to ``path`` (atomically: a temporary file, then a rename)."""
        live = [self._slot_of[pid] for pid in sorted(self._slot_of)]
        parts = [self._terms_of(slot) for slot in live]
        ptr = np.zeros(len(parts) + 1, np.int64)
        np.cumsum([len(t) for t, _ in parts], out=ptr[1:])
        terms = np.concatenate([t for t, _ in parts]) if parts else _NO_SLOTS
        used = np.unique(terms)  # forget terms no live passage holds
        remap = np.full(len(self._vocab) + 1, -1, np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        words = list(self._vocab)
        vocabulary = "\n".join(words[i] for i in used.tolist())
        arrays = {"format": np.array(FORMAT), "vocabulary": np.array(vocabulary),
                  "pids": np.array(sorted(self._slot_of), np.int64),
                  "forward_ptr": ptr, "forward_terms": remap[terms],
                  "forward_tfs": np.concatenate([f for _, f in parts]) if parts else _NO_VALUES}
        if any("\n" in words[i] for i in used.tolist()):
            raise ValueError("a term holds a line break")  # tokenize() strips them
        npzfile.write(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex:
        """Read an index :meth:`save` wrote; ``ValueError`` when it is of another
        format, ``OSError`` when it cannot be read."""
        data = npzfile.read(path, ("format", "vocabulary", "pids", "forward_ptr",
                                   "forward_terms", "forward_tfs"))
        if int(data["format"]) != FORMAT:
            raise ValueError(f"format {int(data['format'])}, expected {FORMAT}")
        words = str(data["vocabulary"]).split("\n") if data["vocabulary"].size else []
        pids, ptr = data["pids"], data["forward_ptr"]
        terms, tfs = data["forward_terms"], data["forward_tfs"]
        if len(ptr) != len(pids) + 1 or ptr[-1] != len(terms) or len(tfs) != len(terms):
            raise ValueError("inconsistent arrays")
        index = cls()
        index._vocab = dict(zip(words, range(len(words))))
        lengths = np.add.reduceat(tfs, ptr[:-1]).astype(np.float32) if len(tfs) else _NO_VALUES
        index._set_base(_Base.of(pids, lengths, ptr, terms, tfs, len(words)))
        return index


def _appended(old: _Postings, rows: list[tuple[int, float, float]]) -> _Postings:
    """``old`` with ``rows`` (slot, tf, length) after its own: in place past ``size``
    when ``old`` has arrays of its own with room, else in arrays twice the size."""
    size = old.size
    need = size + len(rows)
    base_view = old.slots.base is not None  # a slice of the base: never written to
    if base_view or need > len(old.slots):
        capacity = max(4, 2 * need)
        slots, tfs, lengths = (np.empty(capacity, np.int32), np.empty(capacity, np.float32),
                               np.empty(capacity, np.float32))
        slots[:size], tfs[:size], lengths[:size] = old.slots[:size], old.tfs[:size], old.lengths[:size]
    else:
        slots, tfs, lengths = old.slots, old.tfs, old.lengths
    block = np.asarray(rows, dtype=np.float64)
    slots[size:need] = block[:, 0].astype(np.int32)
    tfs[size:need] = block[:, 1]
    lengths[size:need] = block[:, 2]
    return _Postings(slots, tfs, lengths, need, max(old.top, int(block[:, 0].max())))
