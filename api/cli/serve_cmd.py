"""``semsearch serve``: run the API and web page on uvicorn.

With ``--workers N`` the parent does once what the workers would otherwise race on —
preparing the bundled model, measuring the CPU precision, splitting the CPU threads —
and hands the results to them through the environment; it also turns on Prometheus
multiprocess mode so that ``/metrics`` sums every worker.
"""
from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile
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


def _refuse_milvus_lite(workers: int) -> None:
    s = settings()
    if workers > 1 and s.vector_store == "milvus":
        from search.errors import ConfigError
        from search.milvus_store import LITE_BUSY, is_lite

        if is_lite(s.resolved_milvus_uri):
            raise ConfigError(f"--workers {workers} with Milvus Lite: "
                              + LITE_BUSY.format(uri=s.resolved_milvus_uri))


def _prepare_workers(workers: int) -> None:
    """Settle, in this process, what N workers must agree on."""
    from search.config import get_settings

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = tempfile.mkdtemp(prefix="semsearch-metrics-")
        atexit.register(shutil.rmtree, folder, True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    else:  # a directory of the operator's: drop the previous run's values
        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink(missing_ok=True)
    if settings().threads is None:  # N workers x all cores each would oversubscribe
        os.environ["SEMSEARCH_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
        get_settings.cache_clear()
    if settings().precision == "auto":  # measure (or read the cached choice) once, here
        from search.encoder import Encoder

        with console.status("choosing the encoder precision…"):
            encoder = Encoder.from_settings(settings())
        os.environ["SEMSEARCH_PRECISION"] = encoder.precision
        get_settings.cache_clear()
        del encoder
        gc.collect()


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
    _refuse_milvus_lite(workers)  # before any indexing
    if index_sample:
        _index_sample_if_empty(SAMPLE)
        if s.vector_store == "milvus":
            from search.milvus_store import release_all

            release_all()  # let go of a Milvus Lite file before the server opens it
    from .common import ensure_bundled_model

    ensure_bundled_model(s)  # once here, not racing in every worker
    if workers > 1:
        _prepare_workers(workers)
    console.print(f"serving on http://{host or s.host}:{port or s.port} ({workers} worker(s))")
    uvicorn.run("api.app:app_factory", factory=True, host=host or s.host, port=port or s.port,
                workers=workers, log_level="info", access_log=False,
                timeout_worker_healthcheck=s.worker_healthcheck_s)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
