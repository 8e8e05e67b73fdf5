"""A collection's own tuning: band thresholds per passage role, and its ranking.

Stored as JSON in ``collections.bands`` (fitted by ``semsearch calibrate --collection``
or set by hand) and recorded with each build. ``questions`` bands the hits matched on a
standard or similar question, ``passages`` those matched on an answer or an article
chunk: a query scores against an answer lower than against its paraphrase, so one set of
thresholds cannot serve both. ``ranking`` is the retrieval mode and hybrid weight that
answered the collection's hit-test set best. Whatever is missing falls back to the
model's prior thresholds and the server's ranking settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from .bands import Thresholds
from .config import RetrievalMode
from .documents import role_of
from .errors import InvalidInputError


@dataclass(frozen=True)
class Ranking:
    mode: RetrievalMode
    weight: float  # BM25's share in the hybrid blend (ignored by dense and lexical)

    def __post_init__(self) -> None:
        if self.mode not in get_args(RetrievalMode):
            raise InvalidInputError(f"unknown retrieval mode {self.mode!r}; expected one of "
                                    f"{', '.join(get_args(RetrievalMode))}")
        if not 0.0 <= self.weight <= 1.0:
            raise InvalidInputError(f"the hybrid weight must lie in [0, 1], got {self.weight}")

    @property
    def label(self) -> str:
        return f"hybrid {self.weight:g}" if self.mode == "hybrid" else self.mode

    def as_dict(self) -> dict:
        return {"mode": self.mode, "weight": self.weight}


@dataclass(frozen=True)
class Tuning:
    questions: Thresholds | None = None
    passages: Thresholds | None = None
    ranking: Ranking | None = None

    def thresholds(self, kind: str, prior: Thresholds) -> Thresholds:
        """The thresholds a hit matched on a passage of ``kind`` is banded with."""
        own = self.questions if role_of(kind) == "question" else self.passages
        return own or prior


def thresholds_from_json(data: dict) -> Thresholds:
    return Thresholds(float(data["high"]), float(data["medium"]), float(data["low"]),
                      float(data.get("margin", 0.0)))


def tuning_from_json(data: dict | None) -> Tuning:
    """A collection's stored tuning (``{high, medium, low, margin, passages?, ranking?}``)."""
    if not data:
        return Tuning()
    questions = thresholds_from_json(data) if "high" in data else None
    passages = thresholds_from_json(data["passages"]) if data.get("passages") else None
    ranking = (Ranking(data["ranking"]["mode"], float(data["ranking"]["weight"]))
               if data.get("ranking") else None)
    return Tuning(questions, passages, ranking)
