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

    def __post_init__(self) -> None:
        if not (self.high >= self.medium >= self.low):
            raise InvalidInputError(
                f"band thresholds must satisfy high >= medium >= low, got {self}"
            )

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


def band_at_least(band: Band, minimum: Band) -> bool:
    """True when ``band`` is as confident as ``minimum`` or more."""
    return _RANK[band] >= _RANK[minimum]


def parse_band(value: str) -> Band:
    if value not in BANDS:
        raise InvalidInputError(f"unknown band {value!r}; expected one of {', '.join(BANDS)}")
    return value  # type: ignore[return-value]
