"""Band thresholds fitted to the answers of searches, not to pairs of sentences.

``high`` promises that the first answer is right, so it is fitted on the outcomes of a
hit-test set (search.hittest): the threshold on the first hit's cosine and the margin by
which it must lead the next entry are chosen together, as the pair that gives ``high``
to the most questions while the questions given ``high`` are at least 95% right with
one-sided 90% confidence (a plain 95% on the fitting questions would fall below 95% on
new ones about half the time). A margin matters where an FAQ holds near-duplicate
entries: then even a cosine of 1.0 can land on the wrong twin, while a lead over the
runner-up says which entry is meant, so of the pairs that give ``high`` to nearly as
many questions the widest margin is kept. ``medium`` is the lowest cosine down to which the
questions below ``high`` are 80% right, and at least 90% of the questions marked none
stay below it; ``low`` the same at 50% for the questions below ``medium``. A question
marked "none" counts as wrongly answered at any score, so off-topic questions push the
thresholds up. Too few questions at the top leave ``high`` at the model's prior, with
the number of labelled questions still needed.

Questions whose first hit matched a standard or similar question and those whose first
hit matched an answer or an article chunk are fitted apart (``Fit.thresholds`` and
``Fit.passages``): a query scores lower against an answer than against a paraphrase of
itself, so each kind of match gets thresholds of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bands import Thresholds
from .hittest import Outcome, metrics, wilson

TARGETS = (0.95, 0.80, 0.50)
MARGINS = (0.0, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05)
MIN_HIGH = 30  # questions that must reach ``high`` before a fitted ``high`` is trusted
MIN_BAND = 10
HIGH_Z = 1.28  # ``high``'s precision target must hold with one-sided 90% confidence
MARGIN_SLACK = 0.03  # share of ``high`` questions a wider margin may cost
OFF_TOPIC_SHARE = 0.10  # questions marked none that may reach ``medium``
FOLDS = 5


@dataclass
class Fit:
    thresholds: Thresholds  # for first hits matched on a question
    high_fitted: bool  # False: too few questions reach it; the prior's ``high`` is kept
    needed: int  # more labelled questions that would let ``high`` be fitted (estimate; -1: unknown)
    in_sample: dict  # search.hittest.metrics of the fitting questions
    cross_validated: dict = field(default_factory=dict)  # pooled over FOLDS held-out folds
    passages: Thresholds | None = None  # for first hits matched on an answer or a chunk
    n_passage_questions: int = 0  # the questions the passage thresholds were fitted on

    def to_json(self) -> dict:
        def rounded(t: Thresholds) -> dict:
            return {k: round(v, 6) for k, v in t.as_dict().items()}

        return {**rounded(self.thresholds), "high_fitted": self.high_fitted,
                "needed": self.needed, "n_questions": self.in_sample["n_questions"],
                "passages": rounded(self.passages) if self.passages else None,
                "n_passage_questions": self.n_passage_questions,
                "in_sample": self.in_sample, "cross_validated": self.cross_validated}


def _arrays(outcomes: list[Outcome]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    score = np.array([o.score for o in outcomes], dtype=np.float64)
    runner = np.array([o.runner_up for o in outcomes], dtype=np.float64)
    right = np.array([o.correct for o in outcomes], dtype=bool)
    return score, runner, right


def reaches_high(score: np.ndarray, runner: np.ndarray, high: float,
                 margin: float) -> np.ndarray:
    """Which first hits ``high`` would keep (search.bands.top_bands): at or above the
    threshold, no runner-up there, and a lead of at least ``margin``."""
    return (score >= high) & (runner < high) & (score - runner >= margin)


def fit_high(score: np.ndarray, runner: np.ndarray, right: np.ndarray,
             target: float = TARGETS[0]) -> tuple[float, float, int] | None:
    """(threshold, margin, questions reached) for ``high``, or None when no pair gives
    it to MIN_HIGH questions whose precision is at least ``target`` with one-sided
    confidence (its Wilson interval at HIGH_Z lies above it).

    Per margin, the threshold that reaches the most such questions; of the margins that
    reach within MARGIN_SLACK of the best count, the widest: a wider lead is the safer
    promise, and on held-out questions it keeps the precision that a margin fitted to
    the last question loses.
    """
    per_margin: dict[float, tuple[int, float]] = {}  # margin -> (count, threshold)
    for t in np.unique(score[score > -1]):
        for margin in MARGINS:
            chosen = reaches_high(score, runner, float(t), margin)
            n = int(chosen.sum())
            if n < MIN_HIGH or wilson(int(right[chosen].sum()), n, HIGH_Z)[0] < target:
                continue
            if (n, float(t)) > per_margin.get(margin, (0, 0.0)):
                per_margin[margin] = (n, float(t))
    if not per_margin:
        return None
    most = max(n for n, _ in per_margin.values())
    margin = max(m for m, (n, _) in per_margin.items() if n >= (1 - MARGIN_SLACK) * most)
    count, threshold = per_margin[margin]
    return threshold, margin, count


def lowest_threshold(score: np.ndarray, right: np.ndarray, target: float,
                     min_support: int = MIN_BAND) -> float | None:
    """The lowest first-hit cosine above which at least ``target`` of the questions
    got the right entry (cumulative precision, as for pairs)."""
    order = np.argsort(-score, kind="stable")
    s, y = score[order], right[order].astype(np.float64)
    precision = np.cumsum(y) / np.arange(1, len(s) + 1)
    ok = (precision >= target) & np.append(s[1:] < s[:-1], True)
    ok[: min_support - 1] = False
    return float(s[np.flatnonzero(ok)[-1]]) if ok.any() else None


def needed_for_high(score: np.ndarray, runner: np.ndarray, right: np.ndarray,
                    prior: Thresholds) -> int:
    """How many more labelled questions would put MIN_HIGH of them in ``high``, if
    they reached it as often as these do under the prior; -1 when none of these reaches
    the prior's ``high``, which leaves nothing to estimate from."""
    reach = reaches_high(score, runner, prior.high, prior.margin)
    share = reach.mean() if len(reach) else 0.0
    if share == 0:
        return -1
    return max(0, int(np.ceil(MIN_HIGH / share)) - len(score))


def _fit_group(outcomes: list[Outcome], prior: Thresholds) -> tuple[Thresholds, bool, int]:
    """(thresholds, high fitted, questions still needed) for one kind of first hit.

    Each band is fitted on the questions below the one above it, so that its own
    precision meets its target; ``medium`` is also kept above all but OFF_TOPIC_SHARE
    of the questions marked none, which must not be suggested as answers."""
    score, runner, right = _arrays(outcomes)
    high = fit_high(score, runner, right)
    t_high, margin = (high[0], high[1]) if high else (prior.high, prior.margin)
    below = ~reaches_high(score, runner, t_high, margin)
    medium = lowest_threshold(score[below], right[below], TARGETS[1])
    t_medium = min(medium if medium is not None else prior.medium, t_high)
    off_topic = np.sort(score[[not o.question.answerable and o.top_id is not None
                               for o in outcomes]])[::-1]
    if len(off_topic) >= MIN_BAND:
        cap = float(np.nextafter(off_topic[int(len(off_topic) * OFF_TOPIC_SHARE)], np.inf))
        t_medium = min(max(t_medium, cap), t_high)
    below &= score < t_medium
    low = lowest_threshold(score[below], right[below], TARGETS[2])
    t_low = min(low if low is not None else prior.low, t_medium)
    needed = 0 if high else needed_for_high(score, runner, right, prior)
    return Thresholds(t_high, t_medium, t_low, margin), high is not None, needed


def fit(outcomes: list[Outcome], prior: Thresholds, *, cross_validate: bool = True,
        seed: int = 0) -> Fit:
    """Thresholds for question matches from the questions whose first hit matched a
    question (or found nothing), and, when MIN_BAND or more first hits matched an answer
    or a chunk, thresholds of their own for those."""
    on_passage = [o for o in outcomes if o.on_passage]
    on_question = [o for o in outcomes if not o.on_passage]
    thresholds, high_fitted, needed = _fit_group(on_question or outcomes, prior)
    passages = None
    if len(on_passage) >= MIN_BAND:
        passages, passage_high, passage_needed = _fit_group(on_passage, prior)
        if len(on_passage) > len(on_question):  # a knowledge base: its answers' bands matter
            high_fitted, needed = passage_high, passage_needed
    result = Fit(thresholds, high_fitted, needed, metrics(outcomes, thresholds, passages or prior),
                 passages=passages, n_passage_questions=len(on_passage))
    if cross_validate and len(outcomes) >= FOLDS * MIN_BAND:
        result.cross_validated = _cross_validate(outcomes, prior, seed)
    return result


def banding(outcome: Outcome, found: Fit, prior: Thresholds) -> Thresholds:
    """The thresholds a search banded with ``found`` reads this outcome's first hit with."""
    return (found.passages or prior) if outcome.on_passage else found.thresholds


def _cross_validate(outcomes: list[Outcome], prior: Thresholds, seed: int) -> dict:
    """search.hittest.metrics with each fold banded by thresholds fitted on the others."""
    folds = np.random.default_rng(seed).permutation(len(outcomes)) % FOLDS
    banded: list[tuple[Outcome, Thresholds]] = []
    for k in range(FOLDS):
        train = [o for o, f in zip(outcomes, folds) if f != k]
        found = fit(train, prior, cross_validate=False)
        banded += [(o, banding(o, found, prior)) for o, f in zip(outcomes, folds) if f == k]
    return metrics([o for o, _ in banded], [t for _, t in banded])

