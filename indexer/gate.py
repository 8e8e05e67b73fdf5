"""The quality gate of a reindex: a build that answers the hit-test set worse is refused.

The collection's hit-test set is run twice: on what serves now, before the reindex
writes anything, and on the new build inside the reindex's own transaction (the search
reads that transaction's uncommitted entries and the new, not yet committed, build).
When recall@1 drops by more than ``max_drop`` or ``high`` falls below its precision
target, the transaction is rolled back: nothing changes and the active build keeps
serving. Either way the new build records its result, for ``eval testset --against``.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from search import hittest
from search.bands import Thresholds
from search.builds import active_build
from search.collections import CollectionRegistry
from search.config import Settings
from search.encoder import TextEncoder
from search.errors import NotReadyError, QualityGateError
from search.fit import TARGETS
from search.hittest import Outcome
from search.service import SearchService
from search.store import repository, testsets
from search.store.models import IndexBuild
from search.store.testsets import Labelled

DEFAULT_MAX_DROP = 0.02  # recall@1, as a share (2 points)


class Borrowed:
    """A session factory handing out one open session: searches then read the
    transaction in progress, uncommitted rows included."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        yield self.session

    def begin(self) -> AbstractContextManager[Session]:
        """The open session: its transaction is the reindex's, committed (or rolled
        back) with the build."""
        return self()


@dataclass
class Verdict:
    before: dict | None  # hittest.metrics of what served before (None: nothing did)
    after: dict
    changed: list[dict]
    reasons: list[str]

    def record(self, outcomes: list[Outcome]) -> dict:
        """What the new build keeps of this run (``index_builds.evaluation``)."""
        keep = ("recall_at_1", "mrr_at_10", "n_questions", "band_share", "band_precision")
        return {**{k: self.after[k] for k in keep},
                "answers": {o.question.query: o.top_id for o in outcomes}}


def judge(before: list[Outcome] | None, after: list[Outcome], thresholds: Thresholds,
          max_drop: float = DEFAULT_MAX_DROP, passages: Thresholds | None = None) -> Verdict:
    new = hittest.metrics(after, thresholds, passages)
    old = hittest.metrics(before, thresholds, passages) if before else None
    reasons = []
    if old and old["recall_at_1"] is not None and new["recall_at_1"] is not None:
        drop = old["recall_at_1"] - new["recall_at_1"]
        if drop > max_drop:
            reasons.append(f"recall@1 on the hit-test set fell from {old['recall_at_1']:.3f} to "
                           f"{new['recall_at_1']:.3f} (more than {100 * max_drop:g} points)")
    precision, was = new["band_precision"]["high"], (old or {}).get("band_precision", {}).get("high")
    if precision is not None and precision < TARGETS[0] and (was is None or was >= TARGETS[0]):
        reasons.append(f"'high' precision fell to {precision:.3f} (target {TARGETS[0]:.2f})")
    return Verdict(old, new, hittest.changed(before, after) if before else [], reasons)


def refuse(verdict: Verdict, collection: str) -> QualityGateError:
    changed = len(verdict.changed)
    return QualityGateError(
        f"the new build of {collection!r} was not activated: " + "; ".join(verdict.reasons)
        + f"; {changed} test question(s) changed answer; nothing was changed (--no-gate "
        "activates it anyway)", {"reasons": verdict.reasons, "changed": verdict.changed})


@dataclass
class Baseline:
    questions: list[Labelled]  # the collection's hit-test set (empty: no gate)
    before: list[Outcome] | None = None  # its outcomes on what serves now (None: nothing does)
    encoded: list[tuple[str, np.ndarray]] | None = field(default=None, repr=False)  # reused after


def baseline(settings: Settings, sessions: sessionmaker[Session], encoder: TextEncoder,
             collection: str, *, search: bool = True) -> Baseline:
    """The collection's hit-test set and its outcomes on what serves now (none when
    nothing does: a first build, or an active build that cannot be served; or when
    ``search`` is False: a reindex that will make no build has nothing to compare)."""
    with sessions() as session:
        coll = repository.find_collection(session, collection)
        if coll is None:
            return Baseline([])
        questions = testsets.load(session, coll.id)
        active = active_build(session, coll.id)
    if not questions or active is None or not search:
        return Baseline(questions)
    service = SearchService(settings, encoder, sessions,
                            CollectionRegistry(settings, encoder, sessions, only=collection))
    encoded = hittest.encode(service, questions)
    try:
        return Baseline(questions, hittest.run(service, collection, questions, encoded=encoded),
                        encoded)
    except NotReadyError:
        return Baseline(questions, None, encoded)


def check(session: Session, settings: Settings, encoder: TextEncoder, collection: str,
          base: Baseline, build_id: int, *, max_drop: float, enforce: bool) -> Verdict:
    """Run the set on the new build inside the reindex's transaction (with the query
    vectors the baseline encoded); record the result on the build; raise
    :class:`QualityGateError` (rolling everything back) when the gate is enforced and
    the build is worse."""
    borrowed = Borrowed(session)
    registry = CollectionRegistry(settings, encoder, borrowed, only=collection)
    service = SearchService(settings, encoder, borrowed, registry)
    after = hittest.run(service, collection, base.questions, encoded=base.encoded)
    before = base.before
    verdict = judge(before, after, service.thresholds_for(collection), max_drop,
                    service.thresholds_for(collection, "answer"))
    row = session.get(IndexBuild, build_id)
    row.evaluation = verdict.record(after)
    if enforce and verdict.reasons:
        raise refuse(verdict, collection)
    return verdict
