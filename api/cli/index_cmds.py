"""``semsearch reindex``, ``query``, ``builds list|activate`` and ``db upgrade``."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from search.bands import BAND_LABELS
from search.store.db import open_database

from .common import console, load_encoder, out, print_json, settings
from .testset_cmds import changed_table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

builds_app = typer.Typer(help="List index builds and roll back.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)

CollectionOpt = Annotated[str | None, typer.Option(help="Collection name (default: settings).")]


def _sessions() -> sessionmaker[Session]:
    return open_database(settings().resolved_database_url)


def reindex(
    source: Annotated[Path, typer.Argument(help="JSONL or CSV export (UTF-8).")],
    collection: CollectionOpt = None,
    full: Annotated[bool, typer.Option("--full/--incremental",
                                       help="--full also deletes entries absent from SOURCE.")] = False,
    skip_invalid: Annotated[bool, typer.Option(help="Index valid rows, report the rest.")] = False,
    allow_shrink: Annotated[bool, typer.Option(
        help="Allow deleting more than half of the collection (refused otherwise: an empty "
             "or cut-off export would wipe it).")] = False,
    rebuild: Annotated[bool, typer.Option(
        help="Build a new index even if the active one is current (a lost Milvus, a "
             "restored database, a damaged index file).")] = False,
    gate: Annotated[bool, typer.Option(
        "--gate/--no-gate", help="With a hit-test set: refuse (exit 3) a build that answers "
                                 "it worse.")] = True,
    max_drop: Annotated[float, typer.Option(
        help="The gate's allowed drop of recall@1, in points.", min=0, max=100)] = 2.0,
) -> None:
    """Bring a collection in line with SOURCE and activate a new index build.

    The source is read and checked before the model loads; the changes and the new build
    are committed together, so a failed reindex changes nothing."""
    from indexer.reindex import read_checked, reindex as run
    from indexer.sources import EntryLimits
    from search.store import repository
    from search.store.repository import check_collection_name

    s = settings()
    name = collection or s.default_collection
    sessions = _sessions()
    with sessions() as session:  # a new collection needs a valid name
        if repository.find_collection(session, name) is None:
            check_collection_name(name)
    rows = read_checked(source, skip_invalid=skip_invalid, allow_empty=full and allow_shrink,
                        limits=EntryLimits.of(s))
    from search.errors import QualityGateError

    try:
        report = run(s, sessions, load_encoder(), rows, name, full=full, rebuild=rebuild,
                     allow_shrink=allow_shrink, gate=gate, max_drop=max_drop / 100,
                     console=console)
    except QualityGateError as exc:
        console.print(changed_table(exc.detail["changed"], limit=50))
        raise
    plan = report.plan
    console.print(Text(f"{name}: {len(plan.new)} new, {len(plan.changed)} changed, "
                       f"{len(plan.deleted)} deleted, {plan.unchanged} unchanged; "
                       f"{report.encoded} texts encoded"))
    if report.skipped:
        console.print(Text(f"skipped {report.skipped} invalid row(s)", style="yellow"))
    if report.build:
        b = report.build
        recall = f", recall@10 {b.recall_at_10:.3f}" if b.recall_at_10 is not None else ""
        console.print(Text(f"build {b.build_id} active: {b.kind}, {b.vectors} vectors, "
                           f"nprobe {b.nprobe}{recall} ({b.seconds:.1f}s)"))
    else:
        console.print("index already current; no new build")
    if report.gate is not None:
        after, before = report.gate.after, report.gate.before
        was = f" (was {before['recall_at_1']:.3f})" if before and before["recall_at_1"] is not None else ""
        r1 = after["recall_at_1"]
        console.print(Text(f"hit-test set: recall@1 {'-' if r1 is None else f'{r1:.3f}'}{was}, "
                           f"{len(report.gate.changed)} answer(s) changed"
                           + (f"; activated despite: {'; '.join(report.gate.reasons)}"
                              if report.gate.reasons else "")))


def query(
    text: Annotated[str, typer.Argument(help="The question.")],
    collection: CollectionOpt = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the index from the command line."""
    from search.profiles import resolve_model
    from search.service import SearchService, check_query
    from search.store import repository

    s = settings()
    name = collection or s.default_collection
    check_query(text, s.max_query_chars,
                traditional_to_simplified=resolve_model(s).profile.traditional_to_simplified)
    sessions = _sessions()
    with sessions() as session:  # an unknown collection fails before the model loads
        repository.get_collection(session, name)
    service = SearchService(s, load_encoder(), sessions)
    result = service.search(text, collection=name, top_k=top_k)
    if as_json:
        from dataclasses import asdict

        print_json(asdict(result))
        return
    # Text cells: FAQ text is shown as written, never read as Rich markup ("[/b]").
    table = Table("#", "entry", "question", "score", "band", "matched")
    for rank, hit in enumerate(result.hits, start=1):
        table.add_row(str(rank), Text(hit.external_id), Text(hit.question), f"{hit.score:.4f}",
                      f"{hit.band} {BAND_LABELS[hit.band]}",
                      Text(f"[{hit.matched_kind}] {hit.matched_text}"))
    out.print(table)


@builds_app.command("list")
def builds_list(collection: CollectionOpt = None) -> None:
    """Index builds, newest first."""
    from indexer.build import list_builds

    table = Table("id", "collection", "active", "kind", "vectors", "nprobe", "model", "created")
    for b, name in list_builds(_sessions(), collection):
        table.add_row(str(b.id), Text(name), "✔" if b.active else "", b.index_kind,
                      str(b.vector_count), str(b.nprobe), Text(b.model_id),
                      f"{b.created_at:%Y-%m-%d %H:%M:%S}")
    out.print(table)


@builds_app.command("activate")
def builds_activate(
    build_id: Annotated[int, typer.Argument(help="Build id (see `semsearch builds list`).")],
    allow_shrink: Annotated[bool, typer.Option(
        help="Allow the restore to delete more than half of the collection.")] = False,
) -> None:
    """Serve an earlier build again, with the entries it was made from (running servers
    switch within seconds)."""
    from indexer.activate import activate

    done = activate(_sessions(), build_id, settings(), load_encoder=load_encoder,
                    allow_shrink=allow_shrink)
    if done.plan is None:
        console.print(Text(f"build {done.build_id} is active for {done.collection!r} (it has no "
                           "snapshot of its entries: the current entries are served)"))
        return
    plan = done.plan
    restored = f"{len(plan.new)} restored, {len(plan.changed)} reverted, {len(plan.deleted)} removed"
    console.print(Text(f"build {done.build_id} is active for {done.collection!r}; entries: "
                       + (restored if plan.writes else "unchanged")))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (commands that open the database also do this)."""
    _sessions()
    console.print(f"database at {settings().resolved_database_url} is up to date")


def register(app: typer.Typer) -> None:
    app.command("reindex")(reindex)
    app.command("query")(query)
    app.add_typer(builds_app, name="builds")
    app.add_typer(db_app, name="db")
