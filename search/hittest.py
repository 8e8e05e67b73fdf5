"""Run a hit-test set through the search and measure what a user of the answers sees.

Each labelled question is searched with the full default ranking; its outcome keeps the
first hit, its score (the cosine the band is read from), the best score of the other
hits read with the same thresholds (the margin's reference), the kind of passage it
matched and the rank of the first right entry. The metrics count a
question marked "none" as wrongly answered whatever entry comes first, so a band's
precision is the share of its questions that got the right entry first.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .bands import BANDS, Band, Thresholds, top_bands
from .documents import role_of
from .service import SearchService
from .store.testsets import Labelled
from .tuning import Ranking

DEPTH = 10  # hits looked at per question: MRR@10, and the runner-up's score
_ENCODE_CHUNK = 256


@dataclass(frozen=True)
class Outcome:
    question: Labelled
    top_id: str | None  # the first hit's entry, None when nothing was found
    score: float  # the first hit's cosine (-1 when nothing was found)
    runner_up: float  # the best cosine among the other hits of the same role (-1 when none)
    rank: int | None  # 1-based rank of the first right entry within DEPTH, if any
    kind: str = "question"  # the kind of passage the first hit matched

    @property
    def on_passage(self) -> bool:
        """The first hit matched an answer or a chunk, not a question."""
        return role_of(self.kind) != "question"

    @property
    def correct(self) -> bool:
        return self.top_id is not None and self.top_id in self.question.expected

    def band(self, thresholds: Thresholds) -> Band:
        if self.top_id is None:
            return "none"
        scores = [self.score] + ([self.runner_up] if self.runner_up > -1 else [])
        return top_bands(scores, thresholds)[0][0]


def encode(service: SearchService, questions: Sequence[Labelled]) -> list[tuple[str, np.ndarray]]:
    """Each question normalised and encoded (in batches), to be searched many times."""
    normalized = [service.normalize_query(q.query) for q in questions]
    out: list[tuple[str, np.ndarray]] = []
    for start in range(0, len(normalized), _ENCODE_CHUNK):
        part = normalized[start:start + _ENCODE_CHUNK]
        out += zip(part, service.encoder.encode_queries(part))
    return out


def run(service: SearchService, collection: str, questions: list[Labelled], *,
        ranking: Ranking | None = None,
        encoded: list[tuple[str, np.ndarray]] | None = None) -> list[Outcome]:
    """Search every question with the collection's ranking (or ``ranking``)."""
    outcomes: list[Outcome] = []
    for question, (text, vector) in zip(questions, encoded or encode(service, questions)):
        hits = service.search_vector(question.query, text, vector, collection=collection,
                                     top_k=DEPTH, ranking=ranking).hits
        rank = next((i + 1 for i, h in enumerate(hits) if h.external_id in question.expected),
                    None)
        if not hits:
            outcomes.append(Outcome(question, None, -1.0, -1.0, rank))
            continue
        role = role_of(hits[0].matched_kind)
        runner_up = max((h.score for h in hits[1:] if role_of(h.matched_kind) == role),
                        default=-1.0)
        outcomes.append(Outcome(question, hits[0].external_id, hits[0].score, runner_up, rank,
                                hits[0].matched_kind))
    return outcomes


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def metrics(outcomes: list[Outcome], thresholds: Thresholds | Sequence[Thresholds],
            passages: Thresholds | None = None) -> dict:
    """recall@1 and MRR@10 over the answerable questions; per band its share of all
    questions and its precision (right entry first) with a 95% interval; the share of
    right answers that were labelled ``none``; where the questions marked none went.
    ``thresholds``: one for all, or one per outcome; ``passages`` bands the questions
    whose first hit matched an answer or a chunk."""
    each = ([thresholds] * len(outcomes) if isinstance(thresholds, Thresholds)
            else list(thresholds))
    answerable = [o for o in outcomes if o.question.answerable]
    bands = [o.band(passages if o.on_passage and passages else t) for o, t in zip(outcomes, each)]
    out: dict = {
        "n_questions": len(outcomes), "n_answerable": len(answerable),
        "recall_at_1": sum(o.correct for o in answerable) / len(answerable) if answerable else None,
        "mrr_at_10": (sum(1 / o.rank for o in answerable if o.rank) / len(answerable)
                      if answerable else None),
        "band_share": {}, "band_precision": {}, "band_interval": {}, "band_count": {},
    }
    for band in BANDS:
        members = [o for o, b in zip(outcomes, bands) if b == band]
        right = sum(o.correct for o in members)
        out["band_count"][band] = len(members)
        out["band_share"][band] = len(members) / len(outcomes) if outcomes else 0.0
        out["band_precision"][band] = right / len(members) if members else None
        out["band_interval"][band] = list(wilson(right, len(members))) if members else None
    high = [o for o, b in zip(outcomes, bands) if b == "high" and o.question.answerable]
    out["high_share_of_answerable"] = len(high) / len(answerable) if answerable else None
    right_pairs = [(o, b) for o, b in zip(outcomes, bands) if o.correct]
    out["right_labelled_none"] = (sum(b == "none" for _, b in right_pairs) / len(right_pairs)
                                  if right_pairs else None)
    off = [b for o, b in zip(outcomes, bands) if not o.question.answerable]
    out["n_none_questions"] = len(off)
    out["none_questions_low_or_none"] = (sum(b in ("low", "none") for b in off) / len(off)
                                         if off else None)
    return out


def changed(before: list[Outcome], after: list[Outcome]) -> list[dict]:
    """The questions whose first answer differs between two runs, right or wrong."""
    rows = []
    for old, new in zip(before, after):
        if old.top_id != new.top_id:
            rows.append({"query": old.question.query, "expected": list(old.question.expected),
                         "before": old.top_id, "after": new.top_id,
                         "was_right": old.correct, "is_right": new.correct})
    return rows
