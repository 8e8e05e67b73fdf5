"""What users asked a collection and what it missed: searches per day, bands, most-hit
entries, and the misses grouped by meaning.

A search is a miss when its first hit was below ``high`` (it could not be answered
automatically) or someone said it did not help (👎). Misses whose question the FAQ now
holds, as a standard or similar question, are left out: that is how a carried-out
suggestion leaves the list. The misses are grouped by meaning (search.grouping) at the
collection's ``medium`` threshold, most asked questions first, and each group is searched
once more, as its centroid, for the nearest entry. The suggestion:

- ``add_similar``: the group's questions become similar questions of entry X, when the
  people who gave 👎 named X most often, or else when the group as a whole passes the
  test ``high`` puts to one search: the group's centre reaches X at the ``high``
  threshold, X was the first hit of at least half of the group's searches, and those
  searches led their second entry by the ``high`` margin on average (a group about
  something the FAQ lacks sits close to its nearest relative too, but its searches
  scatter over several entries, or hesitate between them); and the passage the centre
  reaches is X's standard question. A group nearest to one of X's similar questions
  would hang a paraphrase on a paraphrase, and drifts: in bench/insights.py (seeds 0
  to 3) 2 of 390 such groups belonged to X, against 464 of 799 groups nearest to a
  standard question;
- ``new_entry``: otherwise; the representative question becomes a new entry's question.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import cast

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import grouping
from .bands import Thresholds
from .errors import InvalidInputError
from .service import SearchService
from .store import repository
from .store.models import Feedback, SearchLogEntry
from .text import normalize

EXAMPLES = 5
MOST_HIT = 20
MAX_MISSES = 20_000  # the most recent misses grouped per call
_SPAN = re.compile(r"^(\d+)([dh])$")


def parse_time(text: str | None, now: datetime | None = None) -> datetime | None:
    """``7d``, ``24h``, an ISO date or date-time (UTC when no zone is given), or None."""
    if text is None or not text.strip():
        return None
    now = now or datetime.now(timezone.utc)
    span = _SPAN.match(text.strip())
    try:
        if span:
            amount = int(span.group(1))
            return now - (timedelta(days=amount) if span.group(2) == "d" else timedelta(hours=amount))
        found = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError) as exc:
        raise InvalidInputError(f"not a time: {text!r} (use 7d, 24h, 2026-12-01 or "
                                "2026-12-01T08:00:00)") from exc
    return found if found.tzinfo else found.replace(tzinfo=timezone.utc)


@dataclass
class Nearest:
    entry_id: str
    question: str  # the entry's standard question
    score: float
    band: str
    matched_kind: str  # the passage the group reached: question, similar, answer…
    matched_text: str


@dataclass
class Group:
    group_id: str
    size: int  # searches in the group
    representative: str
    examples: list[str]  # distinct questions, most asked first
    questions: list[str]  # every distinct question of the group
    nearest: Nearest | None
    suggestion: str  # add_similar | new_entry
    entry_id: str | None  # the entry add_similar names
    disliked: int = 0  # searches of the group that got 👎

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class Insights:
    collection: str
    since: str | None
    until: str | None
    searches: int
    band_share: dict[str, float]
    per_day: list[dict]
    most_hit: list[dict]
    groups: list[Group] = field(default_factory=list)

    def as_json(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "groups"},
                "groups": [g.as_json() for g in self.groups]}


def _logged(session: Session, collection: str, since: datetime | None,
            until: datetime | None) -> list[SearchLogEntry]:
    query = select(SearchLogEntry).where(SearchLogEntry.collection == collection)
    if since is not None:
        query = query.where(SearchLogEntry.created_at >= since)
    if until is not None:
        query = query.where(SearchLogEntry.created_at < until)
    return list(session.scalars(query.order_by(SearchLogEntry.created_at)))


def _feedback(session: Session, ids: list[str]) -> dict[str, list[Feedback]]:
    out: dict[str, list[Feedback]] = {}
    for start in range(0, len(ids), 500):
        for row in session.scalars(select(Feedback).where(Feedback.search_id.in_(ids[start:start + 500]))):
            out.setdefault(row.search_id, []).append(row)
    return out


def _known_questions(session: Session, collection_id: int, t2s: bool) -> set[str]:
    return {normalize(text, traditional_to_simplified=t2s)
            for _, _, text in repository.all_passages(session, collection_id, ("question", "similar"))}


def _share(bands: list[str]) -> dict[str, float]:
    counts = Counter(bands)
    return {b: counts[b] / len(bands) if bands else 0.0 for b in ("high", "medium", "low", "none")}


def compute(service: SearchService, collection: str, since: datetime | None = None,
            until: datetime | None = None, *, only: str | None = None) -> Insights:
    """The insights of ``collection`` over [since, until); ``only``: of its groups, only
    the one with this id (the others are not searched for their nearest entry)."""
    t2s = service.encoder.profile.traditional_to_simplified
    with service.sessions() as session:
        coll = repository.get_collection(session, collection)
        logged = _logged(session, collection, since, until)
        feedback = _feedback(session, [r.id for r in logged])
        known = _known_questions(session, coll.id, t2s)
    days: dict[str, list[str]] = {}
    for row in logged:
        days.setdefault(row.created_at.date().isoformat(), []).append(row.top_band)
    hit_counts = Counter(r.top[0][0] for r in logged if r.top)
    insights = Insights(
        collection, since.isoformat() if since else None, until.isoformat() if until else None,
        len(logged), _share([r.top_band for r in logged]),
        [{"day": d, "searches": len(b), "band_share": _share(b)} for d, b in sorted(days.items())],
        [{"entry_id": e, "searches": n} for e, n in hit_counts.most_common(MOST_HIT)])
    disliked = {sid for sid, rows in feedback.items() if any(not f.helpful for f in rows)}
    misses = [r for r in logged
              if (r.top_band != "high" or r.id in disliked) and r.vector is not None
              and r.normalized_query not in known]
    insights.groups = _groups(service, collection, misses[-MAX_MISSES:], feedback, disliked, only)
    return insights


def _groups(service: SearchService, collection: str, misses: list[SearchLogEntry],
            feedback: dict[str, list[Feedback]], disliked: set[str],
            only: str | None) -> list[Group]:
    by_text: dict[str, list[SearchLogEntry]] = {}
    for row in misses:
        by_text.setdefault(row.normalized_query, []).append(row)
    texts = sorted(by_text, key=lambda t: (-len(by_text[t]), t))  # most asked found the groups
    if not texts:
        return []
    # Misses are the searches logged with a vector (see ``insights``).
    vectors = np.stack([np.frombuffer(cast(bytes, by_text[t][0].vector), dtype=np.float32)
                        for t in texts])
    thresholds = service.thresholds_for(collection)
    out = []
    for members in grouping.group(vectors, thresholds.medium):
        asked = np.array([len(by_text[texts[i]]) for i in members], dtype=np.float32)
        central = texts[members[grouping.representative(vectors[members], asked)]]
        group_id = hashlib.sha1(f"{collection}\n{central}".encode()).hexdigest()[:12]
        if only is not None and group_id != only:
            continue
        rows = [r for i in members for r in by_text[texts[i]]]
        centre = grouping.centroid(vectors[members])
        representative = Counter(r.query for r in by_text[central]).most_common(1)[0][0]
        raw = Counter(r.query for r in rows)
        questions = [q for q, _ in raw.most_common()]
        hits = service.search_vector(representative, central, centre,
                                     collection=collection, top_k=1).hits
        nearest = Nearest(hits[0].external_id, hits[0].question, round(hits[0].score, 6),
                          hits[0].band, hits[0].matched_kind, hits[0].matched_text) if hits else None
        named = Counter(f.entry_id for r in rows for f in feedback.get(r.id, [])
                        if not f.helpful and f.entry_id)
        entry_id = named.most_common(1)[0][0] if named else None
        if entry_id is None and nearest and _means(rows, nearest, thresholds):
            entry_id = nearest.entry_id
        out.append(Group(group_id, len(rows), representative, questions[:EXAMPLES], questions,
                         nearest, "add_similar" if entry_id else "new_entry", entry_id,
                         sum(r.id in disliked for r in rows)))
    out.sort(key=lambda g: (-g.size, g.representative))
    return out


def _means(rows: list[SearchLogEntry], nearest: Nearest, thresholds: Thresholds) -> bool:
    """The group means entry ``nearest``: ``high``'s test (threshold, then a lead over
    the next entry by the margin) passed by the group as a whole, on the entry's
    standard question."""
    if nearest.matched_kind != "question":
        return False
    firsts = sum(bool(r.top) and r.top[0][0] == nearest.entry_id for r in rows)
    leads = [r.top[0][1] - (r.top[1][1] if len(r.top) > 1 else 0.0) for r in rows if r.top]
    return (nearest.score >= thresholds.high and 2 * firsts >= len(rows)
            and bool(leads) and sum(leads) / len(leads) >= thresholds.margin)
