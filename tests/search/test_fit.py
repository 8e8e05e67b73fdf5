"""Band thresholds fitted to search outcomes: the margin over the runner-up, the 95%
promise of ``high``, questions marked none, and refusing ``high`` on too little data."""
from __future__ import annotations

import numpy as np

from search.bands import Thresholds
from search.fit import fit, fit_high
from search.hittest import Outcome, metrics, wilson
from search.store.testsets import Labelled

PRIOR = Thresholds(0.99, 0.97, 0.93, 0.0)


def outcome(score: float, runner: float, right: bool, answerable: bool = True) -> Outcome:
    question = Labelled(f"q{score:.6f}-{runner:.6f}-{right}", ("a",) if answerable else ())
    return Outcome(question, "a" if right else "b", score, runner, 1 if right else None)


def test_the_margin_makes_high_hold_where_twins_share_top_scores() -> None:
    """Twins: the same top cosine, but a runner-up right behind means a coin flip between
    two entries. No threshold on the cosine keeps 95%; a lead over the runner-up does."""
    clear = [outcome(0.99 + i * 1e-5, 0.98, True) for i in range(60)]
    twins = [outcome(0.99 + i * 1e-5, 0.99 + i * 1e-5 - 0.0005, i % 2 == 0) for i in range(60)]
    rows = clear + twins
    score = np.array([o.score for o in rows])
    runner = np.array([o.runner_up for o in rows])
    right = np.array([o.correct for o in rows])
    threshold, margin, reached = fit_high(score, runner, right)
    assert 0.0005 < margin <= 0.01 and reached == 60
    fitted = fit(rows, PRIOR)
    assert fitted.high_fitted and fitted.in_sample["band_precision"]["high"] == 1.0
    assert fitted.in_sample["band_count"]["high"] == 60


def test_too_few_questions_keep_the_prior_high_and_say_how_many_more() -> None:
    rows = [outcome(0.995, 0.90, True) for _ in range(10)] + [outcome(0.92, 0.91, False) for _ in range(40)]
    fitted = fit(rows, PRIOR)
    assert not fitted.high_fitted and fitted.needed > 0
    assert (fitted.thresholds.high, fitted.thresholds.margin) == (PRIOR.high, PRIOR.margin)


def test_questions_marked_none_push_the_thresholds_up() -> None:
    answerable = [outcome(0.95 + i * 0.0001, 0.90, True) for i in range(300)]  # 0.95-0.98
    off_topic = [outcome(0.95 + i * 0.00015, 0.90, False, answerable=False) for i in range(100)]
    alone, mixed = fit(answerable, PRIOR).thresholds, fit(answerable + off_topic, PRIOR).thresholds
    assert mixed.high > alone.high
    m = metrics(answerable + off_topic, mixed)
    assert m["n_none_questions"] == 100 and m["band_precision"]["high"] >= 0.95


def test_wilson_interval() -> None:
    low, high = wilson(95, 100)
    assert 0.88 < low < 0.9 and 0.97 < high < 0.99
    assert wilson(0, 0) == (0.0, 1.0)


def test_answer_matches_get_thresholds_of_their_own() -> None:
    """A knowledge base: queries score about 0.85 against the answer that is right and
    0.80 against wrong ones, far below any paraphrase. Fitted together with question
    matches, the answers would never be ``high``; fitted apart, they are."""
    def on_answer(score: float, right: bool) -> Outcome:
        question = Labelled(f"a{score:.6f}-{right}", ("a",))
        return Outcome(question, "a" if right else "b", score, score - 0.05, 1 if right else None,
                       kind="answer")

    questions = [outcome(0.995 + i * 1e-5, 0.95, True) for i in range(40)]
    answers = ([on_answer(0.85 + i * 1e-4, True) for i in range(60)]
               + [on_answer(0.80 + i * 1e-4, False) for i in range(20)])
    fitted = fit(questions + answers, PRIOR)
    assert fitted.passages is not None and fitted.n_passage_questions == 80
    assert 0.80 < fitted.passages.high <= 0.85 < PRIOR.low
    assert fitted.thresholds.high >= 0.995
    assert fitted.in_sample["band_count"]["high"] == 100
    assert fitted.in_sample["band_precision"]["high"] == 1.0
    assert metrics(questions + answers, fitted.thresholds)["band_count"]["high"] == 40


def test_few_questions_marked_none_reach_medium() -> None:
    """Below ``high`` (ambiguous leads), right answers from 0.90 up and off-topic
    questions between 0.93 and 0.96: by precision alone ``medium`` would reach down to
    0.90 and suggest an answer for every off-topic question; at most 10% may reach it."""
    clear = [outcome(0.99 + i * 0.0001, 0.90, True) for i in range(60)]
    close = [outcome(0.90 + i * 0.0004, 0.90 + i * 0.0004 - 0.001, True) for i in range(200)]
    off_topic = [outcome(0.93 + i * 0.0015, 0.93 + i * 0.0015 - 0.001, False, answerable=False)
                 for i in range(20)]
    rows = clear + close + off_topic
    by_precision = fit(rows, PRIOR)  # what medium would be without the off-topic rule
    t = by_precision.thresholds
    assert sum(t.medium <= o.score < t.high for o in off_topic) <= 2
    assert t.medium < 0.96 + 1e-9 and sum(o.score >= t.medium for o in close) > 0
