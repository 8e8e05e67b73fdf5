"""Fixtures for the storage-backend tests: a database per test on SQLite or PostgreSQL,
and settings for either vector store (Milvus Lite in the test's own directory)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from search.config import Settings
from tests.backends import PostgresDatabases
from tests.conftest import REPO


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


def make_settings(tmp_path, postgres: PostgresDatabases, database: str, store: str,
                  **extra) -> Settings:
    url = postgres.create() if database == "postgres" else None
    return Settings(data_dir=tmp_path / "data", models_dir=REPO / "data" / "models",
                    database_url=url, vector_store=store, _env_file=None, **extra)


@pytest.fixture(autouse=True)
def _release_connections() -> Iterator[None]:
    """Close every database and Milvus Lite handle a test opened (a Lite file stays
    locked by its process until released; PostgreSQL databases are dropped at the end)."""
    yield
    from search import milvus_store
    from search.store.db import dispose_all

    milvus_store.release_all()
    dispose_all()
