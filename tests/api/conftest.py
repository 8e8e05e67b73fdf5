"""A real server on a real port: ``semsearch serve`` in a subprocess over a temporary
data directory holding the sample FAQ.

``servers`` starts one such server per storage backend on first use (FAISS + SQLite,
Milvus Lite + SQLite, FAISS + PostgreSQL) and keeps it for the session; ``live_server``
is the FAISS + SQLite one, and test_api.py runs against each backend in turn."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backends import PostgresDatabases, free_port
from tests.conftest import REPO

SEMSEARCH = str(Path(sys.executable).with_name("semsearch"))
SAMPLE = REPO / "data" / "faq_sample.jsonl"


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
    env.update(SEMSEARCH_DATA_DIR=str(data_dir),
               SEMSEARCH_MODELS_DIR=str(REPO / "data" / "models"),
               SEMSEARCH_RELOAD_INTERVAL_S="0.5", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([SEMSEARCH, *args], env=self.env, cwd=REPO, capture_output=True,
                              text=True, check=check, timeout=600)


def start_server(data_dir: Path, env: dict[str, str], workers: int = 1,
                 timeout: float = 180, log_path: Path | None = None) -> LiveServer:
    port = free_port()
    log_path = log_path or data_dir / "server.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [SEMSEARCH, "serve", "--port", str(port), "--workers", str(workers)],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return LiveServer(url, data_dir, env, process)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server not ready in {timeout}s: {log_path.read_text()[-3000:]}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def pristine_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample FAQ indexed into the default collection once (a real ``semsearch
    reindex``) and never served: tests that need a data directory of their own copy it
    (``copy_indexed``) instead of loading the model to index it again. Made once per
    run: the workers of ``pytest -n`` share it through their common temporary folder."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # this run's
    data_dir, done = shared / "pristine-sample", shared / "pristine-sample.done"
    with FileLock(str(shared / "pristine-sample.lock")):
        if not done.exists():
            shutil.rmtree(data_dir, ignore_errors=True)  # a worker killed half-way
            data_dir.mkdir()
            subprocess.run([SEMSEARCH, "reindex", str(SAMPLE)], env=server_env(data_dir),
                           cwd=REPO, check=True, capture_output=True, timeout=600)
            done.touch()
    return data_dir


def copy_indexed(pristine: Path, dest: Path) -> Path:
    """``dest`` holding a copy of the indexed sample (database, builds, embedding cache)."""
    shutil.copytree(pristine, dest, dirs_exist_ok=True)
    return dest


@pytest.fixture(scope="session")
def sample_data_dir(pristine_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the sample FAQ indexed into the default collection."""
    return copy_indexed(pristine_sample, tmp_path_factory.mktemp("served"))


BACKENDS = ("faiss-sqlite", "milvus-sqlite", "faiss-postgres")


def backend_env(backend: str, data_dir: Path, postgres: PostgresDatabases) -> dict[str, str]:
    """Server settings for ``<vector store>-<database>``; Milvus uses Milvus Lite, whose
    default file is ``<data dir>/milvus.db``."""
    store, database = backend.split("-")
    extra = {"SEMSEARCH_VECTOR_STORE": store}
    if database == "postgres":
        extra["SEMSEARCH_DATABASE_URL"] = postgres.create()
    return server_env(data_dir, **extra)


class Servers:
    """One live server per backend, over the sample FAQ, started on first use."""

    def __init__(self, factory: pytest.TempPathFactory, postgres: PostgresDatabases,
                 default_dir: Path) -> None:
        self.factory, self.postgres, self.default_dir = factory, postgres, default_dir
        self.running: dict[str, LiveServer] = {}

    def get(self, backend: str) -> LiveServer:
        if backend not in self.running:
            if backend == "faiss-sqlite":
                data_dir = self.default_dir
                env = server_env(data_dir)
            else:
                data_dir = self.factory.mktemp(f"served-{backend}")
                env = backend_env(backend, data_dir, self.postgres)
                done = subprocess.run([SEMSEARCH, "reindex", str(SAMPLE)], env=env, cwd=REPO,
                                      capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, done.stderr[-3000:]
            self.running[backend] = start_server(data_dir, env)
        return self.running[backend]

    def stop(self, backend: str) -> None:
        server = self.running.pop(backend, None)
        if server is not None:
            stop_server(server)

    def stop_all(self) -> None:
        for backend in list(self.running):
            self.stop(backend)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    """Creates ``semsearch_test_<random>`` databases on demand; drops them at the end."""
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresDatabases,
            sample_data_dir: Path) -> Iterator[Servers]:
    running = Servers(tmp_path_factory, postgres, sample_data_dir)
    yield running
    running.stop_all()


@pytest.fixture(scope="session")
def live_server(servers: Servers) -> LiveServer:
    return servers.get("faiss-sqlite")
