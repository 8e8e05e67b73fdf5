"""Band thresholds fitted to the answers of searches, not to pairs of sentences.

``high`` promises that the first answer is right, so it is fitted on the outcomes of a
hit-test set (search.hittest): the threshold on the first hit's cosine and the margin by
which it must lead the next entry are chosen together, as the pair that gives ``high``
to the most questions while the questions given ``high`` stay at least 95% right. A
margin matters where an FAQ holds near-duplicate entries: then even a cosine of 1.0 can
land on the wrong twin, while a lead over the runner-up says which entry is meant.
``medium`` and ``low`` are the lowest cosines above which 80% and 50% of the questions
got the right entry. A question marked "none" counts as wrongly answered at any score, so
off-topic questions push the thresholds up. Too few questions at the top leave ``high``
at the model's prior, with the number of labelled questions still needed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bands import BANDS, Thresholds
from .hittest import Outcome, metrics

TARGETS = (0.95, 0.80, 0.50)
MARGINS = (0.0, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05)
MIN_HIGH = 30  # questions that must reach ``high`` before a fitted ``high`` is trusted
MIN_BAND = 10
FOLDS = 5


@dataclass
class Fit:
    thresholds: Thresholds
    high_fitted: bool  # False: too few questions reach it; the prior's ``high`` is kept
    needed: int  # more labelled questions that would let ``high`` be fitted (estimate)
    in_sample: dict  # search.hittest.metrics of the fitting questions
    cross_validated: dict = field(default_factory=dict)  # pooled over FOLDS held-out folds

    def to_json(self) -> dict:
        t = self.thresholds
        return {"high": round(t.high, 6), "medium": round(t.medium, 6), "low": round(t.low, 6),
                "margin": round(t.margin, 6), "high_fitted": self.high_fitted,
                "needed": self.needed, "n_questions": self.in_sample["n_questions"],
                "in_sample": self.in_sample, "cross_validated": self.cross_validated}


def _arrays(outcomes: list[Outcome]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    score = np.array([o.score for o in outcomes], dtype=np.float64)
    runner = np.array([o.runner_up for o in outcomes], dtype=np.float64)
    right = np.array([o.correct for o in outcomes], dtype=bool)
    return score, runner, right


def fit_high(score: np.ndarray, runner: np.ndarray, right: np.ndarray,
             target: float = TARGETS[0]) -> tuple[float, float, int] | None:
    """(threshold, margin, questions reached) giving ``high`` to the most questions at
    precision >= target with at least MIN_HIGH of them; None when no pair qualifies."""
    best: tuple[int, float, float] | None = None  # (count, threshold, margin)
    for t in np.unique(score[score > -1]):
        above = score >= t
        for margin in MARGINS:
            chosen = above & (runner < t) & (score - runner >= margin)
            n = int(chosen.sum())
            if n < MIN_HIGH or right[chosen].mean() < target:
                continue
            key = (n, float(t), margin)
            if best is None or key[0] > best[0] or (key[0] == best[0] and key[1] > best[1]):
                best = key
    return None if best is None else (best[1], best[2], best[0])


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
    they reached it as often as these do under the prior."""
    reach = (score >= prior.high) & (runner < prior.high) & (score - runner >= prior.margin)
    share = reach.mean() if len(reach) else 0.0
    if share == 0:
        return MIN_HIGH * 10
    return max(0, int(np.ceil(MIN_HIGH / share)) - len(score))


def fit(outcomes: list[Outcome], prior: Thresholds, *, cross_validate: bool = True,
        seed: int = 0) -> Fit:
    score, runner, right = _arrays(outcomes)
    high = fit_high(score, runner, right)
    medium = lowest_threshold(score, right, TARGETS[1])
    low = lowest_threshold(score, right, TARGETS[2])
    t_high, margin = (high[0], high[1]) if high else (prior.high, prior.margin)
    t_medium = min(medium if medium is not None else prior.medium, t_high)
    t_low = min(low if low is not None else prior.low, t_medium)
    thresholds = Thresholds(t_high, t_medium, t_low, margin)
    result = Fit(thresholds, high is not None,
                 0 if high else needed_for_high(score, runner, right, prior),
                 metrics(outcomes, thresholds))
    if cross_validate and len(outcomes) >= FOLDS * MIN_BAND:
        result.cross_validated = _cross_validate(outcomes, prior, seed)
    return result


def _cross_validate(outcomes: list[Outcome], prior: Thresholds, seed: int) -> dict:
    """Each fold banded with thresholds fitted on the others; metrics pooled."""
    folds = np.random.default_rng(seed).permutation(len(outcomes)) % FOLDS
    banded: list[tuple[Outcome, Thresholds]] = []
    for k in range(FOLDS):
        train = [o for o, f in zip(outcomes, folds) if f != k]
        thresholds = fit(train, prior, cross_validate=False).thresholds
        banded += [(o, thresholds) for o, f in zip(outcomes, folds) if f == k]
    return pooled_metrics(banded)


def pooled_metrics(banded: list[tuple[Outcome, Thresholds]]) -> dict:
    """search.hittest.metrics over questions each banded with its own thresholds."""
    groups: dict[Thresholds, list[Outcome]] = {}
    for outcome, thresholds in banded:
        groups.setdefault(thresholds, []).append(outcome)
    parts = [metrics(group, t) for t, group in groups.items()]
    counts = {b: sum(p["band_count"][b] for p in parts) for b in BANDS}
    right = {b: sum((p["band_precision"][b] or 0) * p["band_count"][b] for p in parts)
             for b in BANDS}
    n = sum(p["n_questions"] for p in parts)
    answerable = sum(p["n_answerable"] for p in parts)
    high_answerable = sum((p["high_share_of_answerable"] or 0) * p["n_answerable"] for p in parts)
    return {"n_questions": n, "band_count": counts,
            "band_share": {b: counts[b] / n if n else 0.0 for b in BANDS},
            "band_precision": {b: right[b] / counts[b] if counts[b] else None for b in BANDS},
            "high_share_of_answerable": high_answerable / answerable if answerable else None}

