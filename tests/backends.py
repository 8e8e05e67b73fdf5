"""Test helpers for the storage backends: throw-away PostgreSQL databases and a Milvus
server (Milvus Lite's own gRPC server, which is what ``http://`` URIs talk to).

PostgreSQL: each test session creates databases named ``semsearch_test_<random>``
through an administrative connection (``SEMSEARCH_TEST_POSTGRES_URL``, else the local
``test`` database as ``postgres`` or ``root``) and drops them at the end, so parallel
runs never collide. A missing server is an error, not a skip: CI has one.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

CANDIDATES = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")


class PostgresDatabases:
    def __init__(self) -> None:
        self._admin: str | None = None
        self.created: list[str] = []

    @property
    def admin(self) -> str:
        if self._admin is None:
            self._admin = _admin_url()
        return self._admin

    def create(self) -> str:
        """A new empty database; returns its SQLAlchemy URL (psycopg 3 driver)."""
        import psycopg

        name = f"semsearch_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return make_url(self.admin).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        import psycopg

        if not self.created:
            return
        with psycopg.connect(self.admin, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


def _admin_url() -> str:
    import psycopg

    wanted = os.environ.get("SEMSEARCH_TEST_POSTGRES_URL")
    errors = []
    for url in ([wanted] if wanted else CANDIDATES):
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return url
        except psycopg.Error as exc:
            errors.append(f"{url}: {exc}")
    raise RuntimeError("the PostgreSQL tests need a server (set SEMSEARCH_TEST_POSTGRES_URL "
                       "to an account that may create databases): " + "; ".join(errors))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MilvusServer:
    """``milvus-lite server`` in a subprocess: a Milvus endpoint several processes share."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = open(data_dir.parent / f"milvus-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("milvus-lite")), "server", "--data-dir",
             str(data_dir), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited; see {self.log.name}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"milvus-lite server did not listen in 60 s; see {self.log.name}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
