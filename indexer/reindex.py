"""``semsearch reindex``: bring a collection in line with a source file, then rebuild.

Steps: read and validate the source (nothing changes if any row is invalid, unless
``skip_invalid``), diff it against the collection by external id and content hash,
refuse to delete more than half of it (unless ``allow_shrink``), encode only texts
missing from the embedding cache, then write the changes and build, record and
activate the new index in one transaction: a reindex that fails changes nothing.
"""
from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TaskProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from search.builds import Identity, identity_for, is_current
from search.config import Settings
from search.encoder import TextEncoder
from search.errors import SemsearchError, SourceError
from search.store import repository

from . import gate as quality_gate
from .build import BuildReport, build_in, prune, transaction
from .gate import DEFAULT_MAX_DROP
from .sources import EntryLimits, SourceRows, read_source
from .writer import DocumentWriter, Plan


@dataclass
class ReindexReport:
    plan: Plan
    skipped: int
    encoded: int
    build: BuildReport | None
    gate: quality_gate.Verdict | None = None  # the hit-test set on the new build

    def as_json(self) -> dict:
        plan, gate = self.plan, self.gate
        return {"new": len(plan.new), "changed": len(plan.changed), "deleted": len(plan.deleted),
                "unchanged": plan.unchanged, "skipped": self.skipped, "encoded": self.encoded,
                "build": asdict(self.build) if self.build else None,
                "gate": None if gate is None else {
                    "recall_at_1": gate.after["recall_at_1"],
                    "recall_at_1_before": (gate.before or {}).get("recall_at_1"),
                    "answers_changed": len(gate.changed), "reasons": gate.reasons}}


class ReindexBusyError(SemsearchError):
    code = "reindex_busy"
    http_status = 409


@contextmanager
def reindex_lock(data_dir: Path) -> Iterator[None]:
    """One reindex at a time per data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".reindex.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ReindexBusyError("another reindex is running on this data directory") from exc
        yield


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.1f} texts/s" if task.speed else "", style="cyan")


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), RateColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console)


def read_checked(source: Path, *, skip_invalid: bool = False, allow_empty: bool = False,
                 limits: EntryLimits = EntryLimits()) -> SourceRows:
    """Read and validate a source before anything is loaded or changed."""
    return checked(read_source(source, limits), str(source), skip_invalid=skip_invalid,
                   allow_empty=allow_empty)


def checked(rows: SourceRows, name: str, *, skip_invalid: bool = False,
            allow_empty: bool = False, skip_hint: str = "--skip-invalid") -> SourceRows:
    """``rows`` when they may be written: any invalid row (unless ``skip_invalid``) or no
    entry at all (unless ``allow_empty``) refuses the whole source."""
    if rows.errors and not skip_invalid:
        shown = "\n".join(rows.errors[:20])
        more = f"\n… and {len(rows.errors) - 20} more" if len(rows.errors) > 20 else ""
        raise SourceError(f"{len(rows.errors)} invalid row(s); nothing was changed "
                          f"(use {skip_hint} to index the rest):\n{shown}{more}",
                          {"errors": rows.errors})
    if not rows.entries and not allow_empty:
        what = f"no valid entries ({len(rows.errors)} invalid row(s))" if rows.errors else "no entries"
        raise SourceError(f"{name} has {what}; nothing was changed")
    return rows


def _is_current(sessions: sessionmaker[Session], collection: str, identity: Identity,
                settings: Settings) -> bool:
    with sessions() as session:
        coll = repository.find_collection(session, collection)
        return coll is not None and is_current(session, coll.id, identity, settings.vector_store)


def reindex(settings: Settings, sessions: sessionmaker[Session], encoder: TextEncoder,
            source: Path | SourceRows, collection: str, *, full: bool = False,
            skip_invalid: bool = False, rebuild: bool = False, allow_shrink: bool = False,
            gate: bool = True, max_drop: float = DEFAULT_MAX_DROP,
            console: Console | None = None) -> ReindexReport:
    """Reindex ``collection`` from ``source``. A collection with a hit-test set has each
    new build evaluated on it before it is activated (``gate``: refused when worse)."""
    console = console or Console(stderr=True)
    rows = source if isinstance(source, SourceRows) else read_checked(
        source, skip_invalid=skip_invalid, allow_empty=full and allow_shrink,
        limits=EntryLimits.of(settings))
    writer = DocumentWriter(settings, encoder, sessions)
    identity = identity_for(encoder)
    with reindex_lock(settings.data_dir):
        plan = writer.plan(collection, rows.entries, full=full)
        if not allow_shrink:
            plan.refuse_shrink(collection)
        with _progress(console) as progress:
            task = progress.add_task("encoding", total=None)
            prepared = writer.prepare(
                plan, on_encode_start=lambda n: progress.update(task, total=n, visible=n > 0),
                on_encoded=lambda n: progress.advance(task, n))
        needs_build = rebuild or bool(plan.writes) or not _is_current(sessions, collection,
                                                                      identity, settings)
        gate_base = quality_gate.baseline(settings, sessions, encoder, collection,
                                          search=needs_build)
        build = verdict = None
        with transaction(sessions, settings) as (session, effects):
            coll = repository.ensure_collection(session, collection)
            writer.write(session, coll.id, prepared)
            if needs_build:
                with console.status("building the index…"):
                    build = build_in(session, coll, identity, settings, encoder, effects)
                if gate_base.questions:
                    with console.status(f"checking the build on {len(gate_base.questions)} "
                                        "test questions…"):
                        verdict = quality_gate.check(session, settings, encoder, collection,
                                                     gate_base, build.build_id,
                                                     max_drop=max_drop, enforce=gate)
        if build is not None:
            prune(sessions, coll.id, settings)
    return ReindexReport(plan, len(rows.errors), prepared.encoded, build, verdict)
