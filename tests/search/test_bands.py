from __future__ import annotations

import pytest

from search.bands import BAND_LABELS, Thresholds, band_at_least, parse_band
from search.errors import InvalidInputError


def test_bands_follow_thresholds_inclusively() -> None:
    t = Thresholds(high=0.85, medium=0.70, low=0.50)
    assert [t.band(s) for s in (0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.49)] == [
        "high", "high", "medium", "medium", "low", "low", "none"]


def test_labels_are_chinese() -> None:
    assert BAND_LABELS == {"high": "高度相关", "medium": "中等相关", "low": "弱相关", "none": "无关"}


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(InvalidInputError):
        Thresholds(high=0.5, medium=0.7, low=0.1)


def test_band_order_and_parsing() -> None:
    assert band_at_least("high", "medium") and band_at_least("low", "low")
    assert not band_at_least("none", "low")
    with pytest.raises(InvalidInputError, match="unknown band"):
        parse_band("very-high")


def test_only_one_unambiguous_first_hit_is_high() -> None:
    from search.bands import top_bands

    t = Thresholds(high=0.9, medium=0.8, low=0.5, margin=0.02)
    assert top_bands([0.95, 0.85, 0.6], t) == [("high", False), ("medium", False), ("low", False)]
    # the runner-up is too close: which entry is meant is unclear
    assert top_bands([0.95, 0.94], Thresholds(0.99, 0.8, 0.5, 0.02)) == [("medium", False), ("medium", False)]
    assert top_bands([0.95, 0.935], t)[0] == ("medium", True)
    # two entries at high (an FAQ with twins): neither is high, even with no margin
    assert top_bands([0.96, 0.91], Thresholds(0.9, 0.8, 0.5)) == [("medium", True), ("medium", True)]
    assert top_bands([0.96], t) == [("high", False)]
    assert top_bands([], t) == []
