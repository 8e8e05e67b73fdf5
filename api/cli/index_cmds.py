"""``semsearch reindex``, ``query``, ``builds list|activate`` and ``db upgrade``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from search.bands import BAND_LABELS
from search.store.db import open_database

from .common import console, load_encoder, out, print_json, settings

builds_app = typer.Typer(help="List index builds and roll back.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)

CollectionOpt = Annotated[str | None, typer.Option(help="Collection name (default: settings).")]


def _sessions():  # type: ignore[no-untyped-def]
    return open_database(settings().resolved_database_url)


def reindex(
    source: Annotated[Path, typer.Argument(help="JSONL or CSV export (UTF-8).")],
    collection: CollectionOpt = None,
    full: Annotated[bool, typer.Option("--full/--incremental",
                                       help="--full also deletes entries absent from SOURCE.")] = False,
    skip_invalid: Annotated[bool, typer.Option(help="Index valid rows, report the rest.")] = False,
    rebuild: Annotated[bool, typer.Option(
        help="Build a new index even if the active one is current (a lost Milvus, a "
             "restored database).")] = False,
) -> None:
    """Bring a collection in line with SOURCE and activate a new index build."""
    from indexer.reindex import reindex as run

    s = settings()
    name = collection or s.default_collection
    report = run(s, _sessions(), load_encoder(), source, name, full=full,
                 skip_invalid=skip_invalid, rebuild=rebuild, console=console)
    plan = report.plan
    console.print(f"[bold]{name}[/]: {len(plan.new)} new, {len(plan.changed)} changed, "
                  f"{len(plan.deleted)} deleted, {plan.unchanged} unchanged; "
                  f"{report.encoded} texts encoded")
    if report.skipped:
        console.print(f"[yellow]skipped {report.skipped} invalid row(s)[/]")
    if report.build:
        b = report.build
        recall = f", recall@10 {b.recall_at_10:.3f}" if b.recall_at_10 is not None else ""
        console.print(f"build {b.build_id} active: {b.kind}, {b.vectors} vectors, "
                      f"nprobe {b.nprobe}{recall} ({b.seconds:.1f}s)")
    else:
        console.print("index already current; no new build")


def query(
    text: Annotated[str, typer.Argument(help="The question.")],
    collection: CollectionOpt = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the index from the command line."""
    from search.service import SearchService

    service = SearchService(settings(), load_encoder(), _sessions())
    result = service.search(text, collection=collection, top_k=top_k)
    if as_json:
        from dataclasses import asdict

        print_json(asdict(result))
        return
    table = Table("#", "entry", "question", "score", "band", "matched")
    for rank, hit in enumerate(result.hits, start=1):
        table.add_row(str(rank), hit.external_id, hit.question, f"{hit.score:.4f}",
                      f"{hit.band} {BAND_LABELS[hit.band]}", f"[{hit.matched_kind}] {hit.matched_text}")
    out.print(table)


@builds_app.command("list")
def builds_list(collection: CollectionOpt = None) -> None:
    """Index builds, newest first."""
    from indexer.build import list_builds

    table = Table("id", "collection", "active", "kind", "vectors", "nprobe", "model", "created")
    for b in list_builds(_sessions(), collection):
        table.add_row(str(b.id), str(b.collection_id), "✔" if b.active else "", b.index_kind,
                      str(b.vector_count), str(b.nprobe), b.model_id, f"{b.created_at:%Y-%m-%d %H:%M:%S}")
    out.print(table)


@builds_app.command("activate")
def builds_activate(build_id: Annotated[int, typer.Argument(help="Build id.")]) -> None:
    """Make an earlier build active (running servers switch within seconds)."""
    from indexer.build import activate

    build = activate(_sessions(), build_id)
    console.print(f"build {build.id} is active")


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
