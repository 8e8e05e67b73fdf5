"""Band calibration: pick thresholds from labelled pairs so that each band keeps a
promised precision.

For a target precision p, the threshold is the lowest cosine t such that, among the
pairs scoring t or more, at least a share p are same-intent pairs. Lower thresholds
would put more pairs in the band at a precision below the promise. A minimum number of
pairs above the threshold keeps a handful of lucky top scores from setting it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bands import Thresholds
from .encoder import TextEncoder
from .errors import InvalidInputError

DEFAULT_TARGETS = (0.95, 0.80, 0.50)
MIN_SUPPORT = 30


@dataclass
class BandRow:
    band: str
    target: float
    threshold: float
    precision: float  # among pairs scoring >= threshold
    recall: float  # share of all positive pairs scoring >= threshold
    share: float  # share of pairs falling in this band (between this and the next threshold)


def search_scores(encoder: TextEncoder, a: list[str], b: list[str]) -> np.ndarray:
    """Cosines as a search computes them: ``a`` as the user's query, ``b`` as a stored
    question (each side with its role's prefix)."""
    qa, pb = list(dict.fromkeys(a)), list(dict.fromkeys(b))
    if encoder.profile.prefix("query") == encoder.profile.prefix("question"):
        qa = pb = list(dict.fromkeys(qa + pb))  # one role in all but name: encode once
        va = vb = encoder.encode_queries(qa)
    else:
        va, vb = encoder.encode_queries(qa), encoder.encode(pb, "question").vectors
    ia, ib = {t: i for i, t in enumerate(qa)}, {t: i for i, t in enumerate(pb)}
    return np.sum(va[[ia[t] for t in a]] * vb[[ib[t] for t in b]], axis=1)


def lowest_threshold(scores: np.ndarray, positive: np.ndarray, target: float,
                     min_support: int = MIN_SUPPORT) -> float:
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], positive[order].astype(np.float64)
    precision = np.cumsum(y) / np.arange(1, len(s) + 1)
    # a cut is only possible between distinct scores
    ok = (precision >= target) & np.append(s[1:] < s[:-1], True)
    ok[: min_support - 1] = False
    if not ok.any():
        raise InvalidInputError(f"no threshold reaches precision {target:.2f} with at least "
                                f"{min_support} pairs above it")
    return float(s[np.flatnonzero(ok)[-1]])


def calibrate(scores: np.ndarray, labels: np.ndarray,
              targets: tuple[float, float, float] = DEFAULT_TARGETS) -> tuple[Thresholds, list[BandRow]]:
    if not (1 >= targets[0] >= targets[1] >= targets[2] > 0):
        raise InvalidInputError("targets must be decreasing precisions in (0, 1], e.g. 0.95,0.80,0.50")
    positive = labels > 0.5
    if positive.all() or not positive.any():
        raise InvalidInputError("calibration needs both same-intent (1) and different (0) pairs")
    values = [lowest_threshold(scores, positive, t) for t in targets]
    # a looser band can never start above a stricter one
    values = [values[0], min(values[1], values[0]), min(values[2], values[1], values[0])]
    thresholds = Thresholds(*values)
    return thresholds, table(scores, positive, thresholds, targets)


def table(scores: np.ndarray, positive: np.ndarray, thresholds: Thresholds,
          targets: tuple[float, ...] = DEFAULT_TARGETS) -> list[BandRow]:
    rows = []
    bounds = [thresholds.high, thresholds.medium, thresholds.low]
    for i, (band, t) in enumerate(zip(("high", "medium", "low"), bounds)):
        above = scores >= t
        upper = bounds[i - 1] if i else np.inf
        in_band = above & (scores < upper)
        rows.append(BandRow(band, targets[i] if i < len(targets) else float("nan"), t,
                            float(positive[above].mean()) if above.any() else float("nan"),
                            float(above[positive].mean()), float(in_band.mean())))
    below = scores < bounds[2]
    rows.append(BandRow("none", float("nan"), float("-inf"),
                        float(positive[below].mean()) if below.any() else float("nan"),
                        float("nan"), float(below.mean())))
    return rows
