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
