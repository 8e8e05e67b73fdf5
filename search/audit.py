"""What is wrong with a collection's FAQ: duplicate and conflicting entries, misfiled similar
questions, unreached entries.

The questions are the standard and similar questions of every entry (passage kinds
``question`` and ``similar``), with the vectors the index was built from (the embedding
cache: nothing is encoded unless a vector is missing there). Every question is compared
with every other one, so the cost is O(n² · dim) for n questions: the cosines are
computed in blocks of rows against all questions, a block holding at most ``CELLS``
cosines, so memory stays bounded whatever n (5,284 questions take about half a second);
above ``MAX_QUESTIONS`` the audit refuses with InputTooLargeError, as time grows with n².

- ``duplicates``: entry pairs with some question of one and some question of the other
  at or above the collection's ``high`` threshold (the band's promise: same intent),
  one row per pair, its best question pair; ``same_answer`` compares the answers
  normalised and without whitespace; ``sure`` marks the pairs at or above the threshold
  dedup uses (``search.grouping.default_threshold``: the model's duplicate threshold
  where it is stricter), since pairs just above ``high`` are often related questions
  rather than the same one.
- ``conflicts``: the duplicates whose answers differ: one of them answers wrongly.
- ``misfiled``: similar questions closer to another entry's question than to any of
  their own entry's, when that other question is at least ``medium`` (below it the
  question is just loosely written, not filed under the wrong entry).
- ``unreached``: entries that were never the first hit of a search logged in the
  retention period (``search_log_days``); None, with the reason, when there is no log of
  the collection to tell.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import grouping
from .errors import InputTooLargeError
from .service import SearchService
from .store import repository
from .store.embeddings import stored_vectors
from .store.models import Document, SearchLogEntry
from .text import normalize

MAX_QUESTIONS = 50_000  # 50k² cosines: a few minutes of numpy on one core
MAX_PAIRS = 100_000  # duplicate entry pairs kept; more means a broken export, not an FAQ
CELLS = 1 << 24  # cosines per block: 64 MiB of float32


@dataclass
class Duplicate:
    entry_a: str
    question_a: str
    entry_b: str
    question_b: str
    score: float
    same_answer: bool
    sure: bool  # at or above dedup's threshold, not only high


@dataclass
class Misfiled:
    entry_id: str
    question: str  # the similar question
    own_score: float  # its best cosine to its own entry's other questions
    other_entry_id: str
    other_question: str
    other_score: float


@dataclass
class Audit:
    collection: str
    entries: int
    questions: int
    thresholds: dict[str, float]
    duplicates: list[Duplicate] = field(default_factory=list)
    misfiled: list[Misfiled] = field(default_factory=list)
    truncated: bool = False  # more than MAX_PAIRS duplicate pairs: the first ones only
    searches: int = 0  # logged searches of the collection in the period
    log_days: int = 0
    unreached: list[dict] | None = None  # [{entry_id, question}]; None: no log to tell
    unreached_reason: str | None = None

    @property
    def conflicts(self) -> list[Duplicate]:
        return [d for d in self.duplicates if not d.same_answer]

    def as_json(self) -> dict:
        return {"collection": self.collection, "entries": self.entries,
                "questions": self.questions, "thresholds": self.thresholds,
                "counts": {"duplicates": len(self.duplicates),
                           "duplicates_sure": sum(d.sure for d in self.duplicates),
                           "conflicts": len(self.conflicts),
                           "misfiled": len(self.misfiled),
                           "unreached": None if self.unreached is None else len(self.unreached)},
                "truncated": self.truncated,
                "duplicates": [asdict(d) for d in self.duplicates],
                "conflicts": [asdict(d) for d in self.conflicts],
                "misfiled": [asdict(m) for m in self.misfiled],
                "searches": self.searches, "log_days": self.log_days,
                "unreached": self.unreached, "unreached_reason": self.unreached_reason}


def compute(service: SearchService, collection: str) -> Audit:
    """The audit of ``collection`` (NotFoundError when it does not exist)."""
    t2s = service.encoder.profile.traditional_to_simplified
    with service.sessions.begin() as session:  # begin: a vector missing from the cache is kept
        coll = repository.get_collection(session, collection)
        rows = repository.question_passages(session, coll.id)
        if len(rows) > MAX_QUESTIONS:
            raise InputTooLargeError(
                f"collection {collection!r} has {len(rows)} questions; the audit compares "
                f"every pair and stops at {MAX_QUESTIONS}", {"questions": len(rows),
                                                             "limit": MAX_QUESTIONS})
        vectors, _ = stored_vectors(session, service.encoder, [r[1] for r in rows],
                                    [r[2] for r in rows])
        documents = list(session.execute(select(Document.external_id, Document.question)
                                         .where(Document.collection_id == coll.id)
                                         .order_by(Document.external_id)))
        reached, searches = _first_hits(session, service, collection)
    thresholds = service.thresholds_for(collection)
    sure = grouping.default_threshold("dedup", thresholds, service.encoder.profile.duplicate)
    audit = Audit(collection, len(documents), len(rows),
                  {"high": thresholds.high, "medium": thresholds.medium, "duplicate": sure},
                  log_days=service.settings.search_log_days, searches=searches)
    if rows:
        _compare(audit, rows, vectors, thresholds.high, thresholds.medium, sure, t2s)
    if not service.settings.search_log:
        audit.unreached_reason = "the search log is off (SEMSEARCH_SEARCH_LOG=false)"
    elif searches == 0:
        audit.unreached_reason = (f"no search of {collection!r} was logged in the last "
                                  f"{audit.log_days} days")
    else:
        audit.unreached = [{"entry_id": e, "question": q} for e, q in documents if e not in reached]
    return audit


def _first_hits(session: Session, service: SearchService, collection: str) -> tuple[set[str], int]:
    """The entries that were the first hit of a logged search, and how many searches."""
    if not service.settings.search_log:
        return set(), 0
    since = datetime.now(timezone.utc) - timedelta(days=service.settings.search_log_days)
    query = (select(SearchLogEntry.top).where(SearchLogEntry.collection == collection,
                                              SearchLogEntry.created_at >= since))
    reached: set[str] = set()
    searches = 0
    for (top,) in session.execute(query.execution_options(yield_per=5000)):
        searches += 1
        if top:
            reached.add(str(top[0][0]))
    return reached, searches


def _answer_key(answer: str, t2s: bool) -> str:
    return "".join(normalize(answer or "", traditional_to_simplified=t2s).split())


def _compare(audit: Audit, rows: list[tuple[int, str, str, str, str, str]], vectors: np.ndarray,
             high: float, medium: float, sure: float, t2s: bool) -> None:
    """Fill the audit's duplicates and misfiled questions, one block of rows at a time."""
    ids = list(dict.fromkeys(r[3] for r in rows))
    number = {e: i for i, e in enumerate(ids)}
    entry = np.array([number[r[3]] for r in rows], dtype=np.int64)
    answers = {r[3]: _answer_key(r[5], t2s) for r in rows}
    similar = np.array([r[1] == "similar" for r in rows])
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(rows)
    step = max(1, min(1024, CELLS // n))
    best: dict[tuple[int, int], tuple[float, int, int]] = {}  # entry pair -> score, i, j
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        scores = vectors[lo:hi] @ vectors.T
        same = entry[lo:hi, None] == entry[None, :]
        cross = np.where(same, -np.inf, scores)
        # duplicates: each question pair once, from the entry numbered lower
        later = entry[None, :] > entry[lo:hi, None]
        for r, j in zip(*np.nonzero((cross >= high) & later)):
            i = lo + int(r)
            key = (int(entry[i]), int(entry[j]))
            score = float(cross[r, j])
            if key in best:
                if score > best[key][0]:
                    best[key] = (score, i, int(j))
            elif len(best) < MAX_PAIRS:
                best[key] = (score, i, int(j))
            else:
                audit.truncated = True
        # misfiled: similar questions of this block
        picked = np.nonzero(similar[lo:hi])[0]
        if len(picked):
            own = np.where(same[picked], scores[picked], -np.inf)
            own[np.arange(len(picked)), lo + picked] = -np.inf  # not itself
            own_best = own.max(axis=1)
            other_at = cross[picked].argmax(axis=1)
            other_best = cross[picked, other_at]
            for k in np.nonzero((other_best > own_best) & (other_best >= medium))[0]:
                i, j = lo + int(picked[k]), int(other_at[k])
                audit.misfiled.append(Misfiled(
                    rows[i][3], rows[i][2], _score(own_best[k]), rows[j][3], rows[j][2],
                    _score(other_best[k])))
    for score, i, j in best.values():
        a, b = rows[i][3], rows[j][3]
        audit.duplicates.append(Duplicate(a, rows[i][2], b, rows[j][2], _score(score),
                                          answers[a] == answers[b], score >= sure))
    audit.duplicates.sort(key=lambda d: (-d.score, d.entry_a, d.entry_b))
    audit.misfiled.sort(key=lambda m: (m.own_score - m.other_score, m.entry_id, m.question))


def _score(value: float) -> float:
    """A cosine for the report; -inf (no other question to compare with) as -1."""
    return round(float(value), 6) if np.isfinite(value) else -1.0
