"""Engine and session set-up, and migrations.

SQLite runs in WAL mode (readers never block the writer; a reindex can run beside a
serving process) with foreign keys on and a busy timeout so concurrent writers wait
instead of failing. Commands that open the database upgrade it to the newest schema.
"""
from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from ..errors import BusyError, ConfigError, StorageFullError

ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"
BUSY_TIMEOUT_MS = 30_000


class Sessions(Protocol):
    """What the search side opens sessions with: a ``sessionmaker``, or the reindex's
    quality gate handing out its one open session (indexer.gate.Borrowed)."""

    def __call__(self) -> AbstractContextManager[Session]: ...

    def begin(self) -> AbstractContextManager[Session]:
        """A session in a transaction that commits when the block ends."""
        ...


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints
    # Reads through a memory map instead of a read() per page: a search's candidate rows
    # are scattered over the file (SQLite caps the map at 2 GiB by default).
    cursor.execute("PRAGMA mmap_size=2147483648")
    cursor.close()


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from exc
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True)


_FULL = ("database or disk is full", "No space left on device")
_DISK_FULL_SQLSTATE = "53100"  # PostgreSQL's disk_full


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn a full disk and a lock held past the busy timeout into domain errors.

    ``what`` names what was being written ("the database", a build file), relative to
    the data directory so that the message shows no server path. The transaction the
    error interrupted is rolled back by its own ``with`` block: nothing was changed.
    """
    try:
        yield
    except OperationalError as exc:
        text = str(exc.orig)
        if any(m in text for m in _FULL) or getattr(exc.orig, "sqlstate", None) == _DISK_FULL_SQLSTATE:
            raise StorageFullError(f"no space left on device while writing {what}; "
                                   "nothing was changed") from exc
        if "database is locked" in text:
            raise BusyError("the database is busy (another process, e.g. a reindex, is "
                            "writing); retry shortly") from exc
        raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise StorageFullError(f"no space left on device while writing {what}; "
                                   "nothing was changed") from exc
        raise


def snapshot(session: Session) -> None:
    """Make the session's reads one snapshot. PostgreSQL's default (read committed) lets
    each statement see newer commits; call this before the session's first query."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def upgrade(engine: Engine) -> None:
    """Apply Alembic migrations up to head (idempotent)."""
    from alembic import command
    from alembic.config import Config

    if not (ALEMBIC_DIR / "env.py").exists():
        raise ConfigError(f"migrations not found at {ALEMBIC_DIR}")
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise ConfigError(f"cannot open database {engine.url!r}: {exc.orig}") from exc


_ENGINES: dict[str, tuple[Engine, sessionmaker[Session]]] = {}


def open_database(url: str) -> sessionmaker[Session]:
    """Engine + migrations + session factory, once per URL per process."""
    if url not in _ENGINES:
        engine = make_engine(url)
        upgrade(engine)
        _ENGINES[url] = (engine, sessionmaker(engine, expire_on_commit=False))
    return _ENGINES[url][1]


def dispose(url: str) -> None:
    """Close one database's pooled connections and forget it."""
    entry = _ENGINES.pop(url, None)
    if entry is not None:
        entry[0].dispose()


def dispose_all() -> None:
    """Close every pooled connection (tests, and before forking workers)."""
    for engine, _ in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()
