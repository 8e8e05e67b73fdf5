"""Named confidence bands over cosine scores.

``high``: same intent, safe to answer automatically; ``medium``: related, suggest or
review; ``low``: weakly related; ``none``: hand over to a person. Thresholds are per
model (see :mod:`search.profiles`) because models spread cosines very differently.
"""
from __future__ import annotations

from collections.abc import Sequence
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


def top_bands(scores: Sequence[float],
              thresholds: Thresholds | Sequence[Thresholds]) -> list[tuple[Band, bool]]:
    """The band of each hit of one result (in rank order), and whether it was lowered
    because the answer is ambiguous. ``thresholds``: one for all hits, or one per hit
    (hits matched on questions and on answers are read with thresholds of their own).

    Only the first hit can be ``high``, and only when no other hit reaches ``high`` and
    it leads the best other hit read with the same thresholds by their ``margin``: an
    FAQ that holds the same question twice, or a question that spans two entries, has
    no one safe answer. Every other hit at ``high`` is ``medium``, marked ambiguous.
    """
    each = [thresholds] * len(scores) if isinstance(thresholds, Thresholds) else list(thresholds)
    raw = [t.band(s) for s, t in zip(scores, each)]
    out: list[tuple[Band, bool]] = [(band, False) for band in raw]
    for i, band in enumerate(raw):
        if band != "high":
            continue
        rivals = [s for j, s in enumerate(scores) if j != i and each[j] == each[i]]
        leads = (raw.count("high") == 1
                 and (not rivals or scores[i] - max(rivals) >= each[i].margin))
        if i > 0 or not leads:
            out[i] = ("medium", True)
    return out


def band_at_least(band: Band, minimum: Band) -> bool:
    """True when ``band`` is as confident as ``minimum`` or more."""
    return _RANK[band] >= _RANK[minimum]


def parse_band(value: str) -> Band:
    if value not in BANDS:
        raise InvalidInputError(f"unknown band {value!r}; expected one of {', '.join(BANDS)}")
    return value

