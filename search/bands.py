"""Named confidence bands over cosine scores.

``high``: same intent, safe to answer automatically; ``medium``: related, suggest or
review; ``low``: weakly related; ``none``: hand over to a person. Thresholds are per
model (see :mod:`search.profiles`) because models spread cosines very differently.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from .errors import InvalidInputError

Band = Literal["high", "medium", "low", "none"]
BANDS: tuple[Band, ...] = ("high", "medium", "low", "none")
BAND_LABELS: dict[Band, str] = {
    "high": "高度相关",
    "medium": "中等相关",
    "low": "弱相关",
    "none": "无关",
}
_RANK = {band: i for i, band in enumerate(reversed(BANDS))}  # none=0 ... high=3


@dataclass(frozen=True)
class Thresholds:
    high: float
    medium: float
    low: float
    # ``high`` promises one answer: the best entry must also lead the next one by this
    # much (fitted with the thresholds; 0 keeps only the rule that no second entry may
    # reach ``high``). See :func:`top_bands`.
    margin: float = 0.0

    def __post_init__(self) -> None:
        if not (self.high >= self.medium >= self.low):
            raise InvalidInputError(
                f"band thresholds must satisfy high >= medium >= low, got {self}"
            )
        if not 0.0 <= self.margin <= 1.0:
            raise InvalidInputError(f"the margin must lie in [0, 1], got {self.margin}")

    def band(self, score: float) -> Band:
        if score >= self.high:
            return "high"
        if score >= self.medium:
            return "medium"
        if score >= self.low:
            return "low"
        return "none"

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def top_bands(scores: list[float], thresholds: Thresholds) -> list[tuple[Band, bool]]:
    """The band of each hit of one result (in rank order), and whether it was lowered
    because the answer is ambiguous.

    Only the first hit can be ``high``, and only when no other hit reaches ``high`` and
    it leads the best other hit by ``thresholds.margin``: an FAQ that holds the same
    question twice, or a question that spans two entries, has no one safe answer. Every
    other hit at ``high`` is ``medium``, marked ambiguous.
    """
    out: list[tuple[Band, bool]] = [(thresholds.band(s), False) for s in scores]
    for i, (band, _) in enumerate(out):
        if band != "high":
            continue
        others = [s for j, s in enumerate(scores) if j != i]
        leads = not others or (max(others) < thresholds.high
                               and scores[i] - max(others) >= thresholds.margin)
        if i > 0 or not leads:
            out[i] = ("medium", True)
    return out


def band_at_least(band: Band, minimum: Band) -> bool:
    """True when ``band`` is as confident as ``minimum`` or more."""
    return _RANK[band] >= _RANK[minimum]


def parse_band(value: str) -> Band:
    if value not in BANDS:
        raise InvalidInputError(f"unknown band {value!r}; expected one of {', '.join(BANDS)}")
    return value  # type: ignore[return-value]


def thresholds_from_json(data: dict) -> Thresholds:
    """Thresholds as a collection stores them (``collections.bands``)."""
    return Thresholds(float(data["high"]), float(data["medium"]), float(data["low"]),
                      float(data.get("margin", 0.0)))
