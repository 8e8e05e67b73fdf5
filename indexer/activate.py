"""``semsearch builds activate``: serve an earlier build again, entries included.

The database is the source of truth and a server replays the change log onto whatever
build is active, so flipping the active flag alone would serve today's entries through
an old file (and none at all after a reindex that deleted them). Activation therefore
restores the entries the build was made from (its snapshot) in the same transaction that
activates it: the old file plus the replayed log then holds exactly those entries.
Restoring goes through the reindex's safeguards: deleting more than half of the
collection needs ``allow_shrink``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from search.config import Settings
from search.encoder import TextEncoder
from search.store import repository, snapshots
from search.store.models import Collection

from .build import _activate, find_build, transaction
from .writer import DocumentWriter, Plan


@dataclass
class Activation:
    build_id: int
    collection: str
    plan: Plan | None  # None: the build has no snapshot (made before snapshots were kept)


def activate(sessions: sessionmaker[Session], build_id: int, settings: Settings, *,
             load_encoder: Callable[[], TextEncoder], allow_shrink: bool = False) -> Activation:
    """Make build ``build_id`` active with its entries; ``load_encoder`` is called only
    when entries must be restored (their passages are re-expanded and looked up in the
    embedding cache)."""
    build = find_build(sessions, build_id)
    with sessions() as session:
        coll = session.get(Collection, build.collection_id)
        snapshot = snapshots.load(session, build.id)
        current = repository.document_hashes(session, coll.id)
    if build.backend == "milvus":  # check before the switch: the collection must serve
        from .milvus_build import check_activatable

        with sessions() as session:
            check_activatable(session, build, settings)
    plan = None
    if snapshot is not None and snapshot.digests != current:  # the entries moved on
        writer = DocumentWriter(settings, load_encoder(), sessions)
        plan = writer.plan(coll.name, snapshot.entries, full=True)
        if not allow_shrink:
            plan.refuse_shrink(coll.name)
        prepared = writer.prepare(plan)
    with transaction(sessions, settings) as (session, _):
        if plan is not None:
            writer.write(session, coll.id, prepared)
        _activate(session, coll.id, build.id)
    if build.backend == "milvus":
        from .milvus_build import move_alias

        move_alias(sessions, build, settings)
    return Activation(build.id, coll.name, plan)
