"""``semsearch reindex``: bring a collection in line with a source file, then rebuild.

Steps: read and validate the source (nothing changes if any row is invalid, unless
``skip_invalid``), diff it against the collection by external id and content hash,
encode only texts missing from the embedding cache, write the changes in one
transaction, build a new index beside the active one and activate it.
"""
from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TaskProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from search.builds import identity_for, is_current
from search.config import Settings
from search.errors import SemsearchError, SourceError
from search.store import repository

from .build import BuildReport, build_collection
from .sources import read_source
from .writer import DocumentWriter, Plan


@dataclass
class ReindexReport:
    plan: Plan
    skipped: int
    encoded: int
    build: BuildReport | None


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


def reindex(settings: Settings, sessions: sessionmaker[Session], encoder, source: Path,  # type: ignore[no-untyped-def]
            collection: str, *, full: bool = False, skip_invalid: bool = False,
            rebuild: bool = False, console: Console | None = None) -> ReindexReport:
    console = console or Console(stderr=True)
    rows = read_source(source)
    if rows.errors and not skip_invalid:
        shown = "\n".join(rows.errors[:20])
        more = f"\n… and {len(rows.errors) - 20} more" if len(rows.errors) > 20 else ""
        raise SourceError(f"{len(rows.errors)} invalid row(s); nothing was changed "
                          f"(use --skip-invalid to index the rest):\n{shown}{more}",
                          {"errors": rows.errors})
    writer = DocumentWriter(settings, encoder, sessions)
    identity = identity_for(encoder)
    with reindex_lock(settings.data_dir):
        plan = writer.plan(collection, rows.entries, full=full)
        with _progress(console) as progress:
            task = progress.add_task("encoding", total=None)
            encoded = writer.apply(collection, plan,
                                   on_encode_start=lambda n: progress.update(task, total=n),
                                   on_encoded=lambda n: progress.advance(task, n))
        with sessions() as session:
            coll = repository.get_collection(session, collection)
            current = is_current(session, coll.id, identity, settings.vector_store)
        build = None
        if rebuild or not current:
            with console.status("building the index…"):
                build = build_collection(sessions, collection, identity, settings.data_dir,
                                         encoder,
                                         flat_threshold=settings.flat_threshold,
                                         sq8=settings.use_sq8, keep=settings.keep_builds,
                                         settings=settings)
    return ReindexReport(plan, len(rows.errors), encoded, build)
