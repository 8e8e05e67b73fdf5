"""``semsearch serve``: run the API and web page on uvicorn.

With ``--workers N`` the parent does once what the workers would otherwise race on —
preparing the bundled model, measuring the CPU precision, splitting the CPU threads —
and hands the results to them through the environment; it also turns on Prometheus
multiprocess mode so that ``/metrics`` sums every worker.
"""
from __future__ import annotations

import errno
import gc
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import console, settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

SAMPLE = Path("data/faq_sample.jsonl")
# The sample's held-out questions (and off-topic ones, which must not be answered): the
# sample collection's hit-test set, so that calibration and the reindex gate can be tried.
SAMPLE_QUESTIONS = [Path("data") / name for name in (
    "faq_sample_queries.jsonl", "faq_sample_dev_queries.jsonl",
    "faq_sample_offtopic_dev.jsonl", "faq_sample_offtopic_test.jsonl")]
# h11 parses requests: httptools cannot parse a URL over 64 KB and answers it with a
# plain-text 400 the app never sees. h11 refuses request heads over this size the same
# way; 1 MB lets a long document id reach the app's own JSON 413.
MAX_REQUEST_HEAD = 1 << 20


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
    _import_sample_questions(sessions, s.default_collection)


def _import_sample_questions(sessions: sessionmaker[Session], collection: str) -> None:
    from search.store import repository, testsets

    questions = [q for path in SAMPLE_QUESTIONS for q in testsets.read_file(path).questions]
    with sessions.begin() as session:
        testsets.add(session, repository.get_collection(session, collection).id, questions)
    console.print(f"{len(questions)} sample questions are the hit-test set of {collection!r}")


def check_port(host: str, port: int) -> None:
    """Fail at once, before the model loads, when the address cannot be listened on."""
    from search.errors import InvalidInputError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise InvalidInputError(f"cannot listen on {host}:{port}: unknown host ({exc.strerror})") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            hint = " (another server runs there? choose another --port)" \
                if exc.errno == errno.EADDRINUSE else ""
            raise InvalidInputError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from exc


def _refuse_milvus_lite(workers: int) -> None:
    s = settings()
    if workers > 1 and s.vector_store == "milvus":
        from search.errors import ConfigError
        from search.milvus_store import LITE_BUSY, is_lite

        if is_lite(s.resolved_milvus_uri):
            raise ConfigError(f"--workers {workers} with Milvus Lite: "
                              + LITE_BUSY.format(uri=s.resolved_milvus_uri))


def serving_threads(workers: int, cores: int | None = None) -> int:
    """Torch threads for each of ``workers``: its share of the cores, less one core for
    its request path (the event loop, the ranking, the search log: Python threads that
    take turns at the GIL, about one core's worth). On two cores one torch thread served
    20% more searches and embeddings a second than two (bench/load.py)."""
    return max(1, (cores or os.cpu_count() or 1) // workers - 1)


def _settle(name: str, value: object) -> None:
    """Set ``SEMSEARCH_<NAME>`` for this process and the workers it starts, and read the
    settings again."""
    from search.config import get_settings

    os.environ[f"SEMSEARCH_{name.upper()}"] = str(value)
    get_settings.cache_clear()


def _prepare_workers(workers: int) -> str | None:
    """Settle, in this process, what N workers must agree on; returns the metrics folder
    made for this run (removed when the server stops), if one was made."""
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = folder = tempfile.mkdtemp(prefix="semsearch-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    else:  # a directory of the operator's: drop the previous run's values
        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink(missing_ok=True)
    if settings().precision == "auto":  # measure (or read the cached choice) once, here
        from search.encoder import Encoder

        with console.status("choosing the encoder precision…"):
            # only its precision is wanted: no graph to trace
            encoder = Encoder.from_settings(settings().model_copy(update={"traced_model": False}))
        _settle("precision", encoder.precision)
        del encoder
        gc.collect()
    return made


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
    host, port = host or s.host, port or s.port
    check_port(host, port)  # before any indexing or model loading
    _refuse_milvus_lite(workers)
    if index_sample:
        _index_sample_if_empty(SAMPLE)
        if s.vector_store == "milvus":
            from search.milvus_store import release_all

            release_all()  # let go of a Milvus Lite file before the server opens it
    from .common import ensure_bundled_model

    ensure_bundled_model(s)  # once here, not racing in every worker
    if s.threads is None:  # all cores for torch would leave none for the request path
        _settle("threads", serving_threads(workers))
    metrics_dir = _prepare_workers(workers) if workers > 1 else None
    console.print(f"serving on http://{host}:{port} ({workers} worker(s))")
    try:
        uvicorn.run("api.app:app_factory", factory=True, host=host, port=port,
                    workers=workers, log_level="info", access_log=False,
                    timeout_worker_healthcheck=s.worker_healthcheck_s,
                    http="h11", h11_max_incomplete_event_size=MAX_REQUEST_HEAD)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    if workers > 1:  # the engines ran in the workers; this process has none to ask
        return
    from api import engine

    if engine.start_failure:  # this process's engine could not start
        from search.errors import ConfigError

        raise ConfigError(f"the server stopped: {engine.start_failure}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
