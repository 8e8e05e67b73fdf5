"""A collection's own tuning: bands and ranking fitted from its hit-test set, or set by hand.

``calibrate`` first chooses the ranking (``RANKINGS``: dense, lexical, or the hybrid
blend at several BM25 weights) that puts the right entry first for the most test
questions, keeping the server's ranking unless another one gains at least ``MIN_GAIN``
of recall@1; then it fits the band thresholds to the answers that ranking gives, for
question matches and for answer or chunk matches apart (search.fit). The result lives in
``collections.bands`` (servers pick it up at their next refresh, within a second) and is
recorded with each build. A collection without a hit-test set is calibrated on its
labelled feedback (search.store.searchlog.labelled_feedback) when it has some. Without
either it is served with the model's prior thresholds and the server's ranking settings.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from search import fit, hittest
from search.bands import Thresholds
from search.collections import CollectionRegistry
from search.config import Settings
from search.encoder import TextEncoder
from search.errors import InvalidInputError
from search.service import SearchService
from search.store import repository, searchlog, testsets
from search.store.db import storage_errors
from search.tuning import Ranking

RANKINGS = (Ranking("dense", 0.0), Ranking("lexical", 0.0),
            *(Ranking("hybrid", w) for w in (0.1, 0.2, 0.3, 0.5, 0.7)))
MIN_GAIN = 0.01  # recall@1 another ranking must gain over the server's to replace it


@dataclass
class Calibration:
    fit: fit.Fit
    ranking: Ranking  # the ranking chosen (and stored with --write)
    recall: dict[str, float | None]  # recall@1 on the hit-test set per ranking tried

    def to_json(self) -> dict:
        return {**self.fit.to_json(), "ranking": self.ranking.as_dict(),
                "rankings_tried": self.recall}


def _service(settings: Settings, sessions: sessionmaker[Session], encoder: TextEncoder,
             collection: str) -> SearchService:
    return SearchService(settings, encoder, sessions,
                         CollectionRegistry(settings, encoder, sessions, only=collection))


def _questions(sessions: sessionmaker[Session], collection: str,
               questions: list[testsets.Labelled] | None) -> list[testsets.Labelled]:
    if questions is None:
        with sessions() as session:
            questions = testsets.load(session, repository.get_collection(session, collection).id)
            if not questions:  # then what users said of their searches
                questions = searchlog.labelled_feedback(session, collection)
    if not questions:
        raise InvalidInputError(f"collection {collection!r} has no hit-test set and no labelled "
                                "feedback yet: import a set with `semsearch testset import "
                                f"FILE --collection {collection}`")
    return questions


def evaluate(settings: Settings, sessions: sessionmaker[Session], encoder: TextEncoder, collection: str,
             questions: list[testsets.Labelled] | None = None) -> tuple[list[hittest.Outcome], dict]:
    """The collection's hit-test set (or ``questions``) searched and banded as it is
    served now: the outcomes, and their metrics with the thresholds and ranking used."""
    service = _service(settings, sessions, encoder, collection)
    found = hittest.run(service, collection, _questions(sessions, collection, questions))
    questions_t = service.thresholds_for(collection, "question")
    passages_t = service.thresholds_for(collection, "answer")
    result = hittest.metrics(found, questions_t, passages_t)
    result.update(thresholds=questions_t.as_dict(), passage_thresholds=passages_t.as_dict(),
                  ranking=service.ranking_for(service.registry.tuning(collection)).as_dict())
    return found, result


def choose_ranking(service: SearchService, collection: str,
                   questions: list[testsets.Labelled]) -> tuple[Ranking, dict, list[hittest.Outcome]]:
    """The ranking with the best recall@1 (the server's unless another gains MIN_GAIN),
    recall@1 per ranking tried, and the chosen ranking's outcomes."""
    prior = Ranking(service.mode, service.settings.hybrid_weight)
    tried = [prior] + [r for r in RANKINGS if r != prior
                       and (r.mode == "dense" or service.registry.use_lexical)]
    encoded = hittest.encode(service, questions)
    runs = {r: hittest.run(service, collection, questions, ranking=r, encoded=encoded) for r in tried}
    recall = {r: hittest.metrics(found, service.thresholds)["recall_at_1"] for r, found in runs.items()}
    best = max(tried, key=lambda r: recall[r] or 0.0)  # the first of equals: the prior
    if (recall[best] or 0.0) - (recall[prior] or 0.0) < MIN_GAIN:
        best = prior
    return best, {r.label: recall[r] for r in tried}, runs[best]


def calibrate(settings: Settings, sessions: sessionmaker[Session], encoder: TextEncoder, collection: str,
              *, write: bool = False) -> Calibration:
    """Choose the collection's ranking and fit its thresholds to the answers its
    hit-test set gets; ``write`` stores both (a ``high`` with too little support keeps
    the prior's)."""
    service = _service(settings, sessions, encoder, collection)
    ranking, recall, found = choose_ranking(service, collection,
                                            _questions(sessions, collection, None))
    fitted = fit.fit(found, encoder.profile.thresholds)
    if write:
        store(sessions, settings, collection, fitted.thresholds, "calibrated",
              {"high_fitted": fitted.high_fitted, "needed": fitted.needed,
               "n_questions": fitted.in_sample["n_questions"],
               "n_passage_questions": fitted.n_passage_questions,
               "rankings_tried": recall, "cross_validated": fitted.cross_validated},
              passages=fitted.passages, ranking=ranking)
    return Calibration(fitted, ranking, recall)


def store(sessions: sessionmaker[Session], settings: Settings, collection: str,
          thresholds: Thresholds | None, source: str, report: dict | None = None, *,
          passages: Thresholds | None = None, ranking: Ranking | None = None,
          keep_ranking: bool = False) -> None:
    """Set (or, with None, clear) a collection's thresholds, its answer and chunk
    thresholds and its ranking; ``keep_ranking`` keeps the ranking it has."""
    with storage_errors(settings.database_label), sessions.begin() as session:
        coll = repository.get_collection(session, collection)
        if keep_ranking and coll.bands and coll.bands.get("ranking"):
            ranking = Ranking(**coll.bands["ranking"])
        coll.bands = None if thresholds is None else {
            **thresholds.as_dict(), "passages": passages.as_dict() if passages else None,
            "ranking": ranking.as_dict() if ranking else None, "source": source,
            "set_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "report": report or {}}
