"""``semsearch serve``: run the API and web page on uvicorn."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, settings

SAMPLE = Path("data/faq_sample.jsonl")


def _index_sample_if_empty(sample: Path) -> None:
    from search.store import repository
    from search.store.db import open_database

    s = settings()
    sessions = open_database(s.resolved_database_url)
    with sessions() as session:
        stats = {c.name: docs for c, docs, _ in repository.collection_stats(session)}
    if stats.get(s.default_collection):
        return
    from indexer.reindex import reindex

    from .common import load_encoder

    console.print(f"indexing {sample} into {s.default_collection!r}…")
    reindex(s, sessions, load_encoder(), sample, s.default_collection, console=console)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [default: settings, 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: settings, 8000]")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    index_sample: Annotated[bool, typer.Option(
        "--index-sample", help="Index data/faq_sample.jsonl first if the collection is empty.")] = False,
) -> None:
    """Serve the HTTP API and the web page."""
    import uvicorn

    s = settings()
    if index_sample:
        _index_sample_if_empty(SAMPLE)
    from .common import ensure_bundled_model

    ensure_bundled_model(s)  # once here, not racing in every worker
    console.print(f"serving on http://{host or s.host}:{port or s.port} ({workers} worker(s))")
    uvicorn.run("api.app:app_factory", factory=True, host=host or s.host, port=port or s.port,
                workers=workers, log_level="info", access_log=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
