"""A collection's own band thresholds: fitted from its hit-test set, or set by hand.

They live in ``collections.bands`` (servers pick them up at their next refresh, within
a second) and are recorded with each build. Without them a collection is banded with the
model's prior thresholds.
"""
from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from search import fit, hittest
from search.bands import Thresholds
from search.collections import CollectionRegistry
from search.config import Settings
from search.errors import InvalidInputError
from search.service import SearchService
from search.store import repository, testsets
from search.store.db import storage_errors


def outcomes(settings: Settings, sessions: sessionmaker[Session], encoder, collection: str,  # type: ignore[no-untyped-def]
             questions: list[testsets.Labelled] | None = None) -> list[hittest.Outcome]:
    """The collection's hit-test set (or ``questions``) searched as it is served now."""
    if questions is None:
        with sessions() as session:
            questions = testsets.load(session, repository.get_collection(session, collection).id)
    if not questions:
        raise InvalidInputError(f"collection {collection!r} has no hit-test set yet: import "
                                "one with `semsearch testset import FILE --collection "
                                f"{collection}`")
    service = SearchService(settings, encoder, sessions,
                            CollectionRegistry(settings, encoder, sessions, only=collection))
    return hittest.run(service, collection, questions)


def calibrate(settings: Settings, sessions: sessionmaker[Session], encoder, collection: str,  # type: ignore[no-untyped-def]
              *, write: bool = False) -> fit.Fit:
    """Fit the collection's thresholds to the answers its hit-test set gets; ``write``
    stores them (a ``high`` with too little support keeps the prior's)."""
    fitted = fit.fit(outcomes(settings, sessions, encoder, collection), encoder.profile.thresholds)
    if write:
        store(sessions, settings, collection, fitted.thresholds, "calibrated",
              {"high_fitted": fitted.high_fitted, "needed": fitted.needed,
               "n_questions": fitted.in_sample["n_questions"],
               "cross_validated": fitted.cross_validated})
    return fitted


def store(sessions: sessionmaker[Session], settings: Settings, collection: str,
          thresholds: Thresholds | None, source: str, report: dict | None = None) -> None:
    """Set (or, with None, clear) a collection's thresholds."""
    with storage_errors(settings.database_label), sessions.begin() as session:
        coll = repository.get_collection(session, collection)
        coll.bands = None if thresholds is None else {
            **thresholds.as_dict(), "source": source,
            "set_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "report": report or {}}
