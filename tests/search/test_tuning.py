"""A collection's tuning: thresholds per kind of matched passage, its ranking, and the
bands of one result read with thresholds per hit."""
from __future__ import annotations

import pytest

from search.bands import Thresholds, top_bands
from search.errors import InvalidInputError
from search.tuning import Ranking, Tuning, tuning_from_json

PRIOR = Thresholds(0.99, 0.97, 0.93)
ANSWERS = Thresholds(0.86, 0.83, 0.80, 0.03)


def test_stored_tuning_round_trips_and_falls_back_to_the_prior() -> None:
    tuning = tuning_from_json({"high": 0.98, "medium": 0.96, "low": 0.9, "margin": 0.005,
                               "passages": ANSWERS.as_dict(),
                               "ranking": {"mode": "hybrid", "weight": 0.5}, "source": "calibrated"})
    assert tuning.thresholds("similar", PRIOR) == Thresholds(0.98, 0.96, 0.9, 0.005)
    assert tuning.thresholds("answer", PRIOR) == tuning.thresholds("chunk", PRIOR) == ANSWERS
    assert tuning.ranking == Ranking("hybrid", 0.5)
    assert tuning_from_json(None) == Tuning()
    assert Tuning().thresholds("answer", PRIOR) == PRIOR


def test_a_ranking_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="retrieval mode"):
        Ranking("bm25", 0.2)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="weight"):
        Ranking("hybrid", 1.5)


def test_each_hit_is_read_with_its_own_thresholds() -> None:
    """An answer match at 0.875 is ``high`` by the answers' thresholds while a question
    match at 0.95 below it is ``low`` by the questions'; only the runner-up of the same
    kind counts for the margin."""
    assert top_bands([0.875, 0.95, 0.84], [ANSWERS, PRIOR, ANSWERS]) == [
        ("high", False), ("low", False), ("medium", False)]
    assert top_bands([0.875, 0.95, 0.85], [ANSWERS, PRIOR, ANSWERS])[0] == ("medium", True)
    assert top_bands([0.875, 0.95, 0.85], PRIOR) == [("none", False), ("low", False), ("none", False)]


def test_any_other_hit_at_high_makes_the_answer_ambiguous() -> None:
    bands = top_bands([0.90, 0.995], [ANSWERS, PRIOR])
    assert bands == [("medium", True), ("medium", True)]
