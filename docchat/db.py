"""Engine, declarative base, column types and transactions, for SQLite and PostgreSQL alike.

SQLite is configured for many threads and several processes on one file: WAL (readers never block
the writer), a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so two writers queue on
the lock instead of deadlocking when both try to upgrade a read lock (which SQLite answers with an
immediate "database is locked", busy timeout or not).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Integer,
    String,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator, TypeEngine

from docchat.config import Settings

#: JSON column: JSONB on PostgreSQL, JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: Auto-increment key: 64-bit on PostgreSQL, the rowid alias on SQLite (FTS5 wants an integer).
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_time(value: dt.datetime) -> str:
    """How a timestamp is stored in SQLite: UTC text with microseconds (sorts as it compares)."""
    return value.astimezone(dt.UTC).strftime(SQLITE_TIME_FORMAT)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on every backend.

    PostgreSQL stores ``timestamptz``.  SQLite has no date type: the value is UTC text in the
    layout SQLAlchemy itself uses, read back with ``datetime.fromisoformat`` (several times faster
    than SQLAlchemy's regex parser, which is most of the cost of reading a long chat).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; docchat stores timezone-aware UTC only")
        return sqlite_time(value) if dialect.name == "sqlite" else value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
        assert isinstance(value, dt.datetime)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every docchat table."""


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(settings: Settings) -> Engine:
    """Create the engine for ``settings.effective_database_url``, tuned for its backend."""
    url = make_url(settings.effective_database_url)
    db = settings.database
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=db.echo,
            json_serializer=_json_dumps,
            # isolation_level=None hands transaction control to the events below.
            connect_args={
                "timeout": db.busy_timeout_s,
                "isolation_level": None,
                "check_same_thread": False,
            },
            poolclass=NullPool if url.database in (None, "", ":memory:") else None,
        )
        synchronous = "FULL" if db.durability == "power" else "NORMAL"

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(db.busy_timeout_s * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(
        url,
        echo=db.echo,
        json_serializer=_json_dumps,
        pool_size=db.pool_size,
        pool_pre_ping=True,
    )


def is_postgres(bind: Engine | Connection) -> bool:
    """Whether ``bind`` talks to PostgreSQL."""
    return bind.dialect.name == "postgresql"


class Database:
    """An engine plus the session factory and transaction helpers every store uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        #: The engine for write transactions (``BEGIN IMMEDIATE`` on SQLite).
        self.writer = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write_sessions = sessionmaker(self.writer, expire_on_commit=False)
        # SQLite admits one writer at a time.  Threads of this process queue for it here, in
        # order, instead of in SQLite's busy handler, which sleeps 1, 2, 5 ... 100 ms between
        # retries and so turns a 0.3 ms wait into tens of milliseconds (bench/sessions.py, b).
        # Other processes still meet at SQLite's lock.  PostgreSQL needs no such queue.
        self._write_queue = threading.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate: bool = True) -> Database:
        """Open the configured database, applying migrations first unless told not to."""
        database = cls(make_engine(settings))
        if migrate:
            from docchat.migrations import upgrade

            upgrade(database.engine)
        return database

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold this process's turn to write (SQLite only); wrap every write transaction in it."""
        if self._write_queue is None:
            yield
            return
        with self._write_queue:
            yield

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed on exit (durable on return), rolled back on error."""
        with self.writing(), self._write_sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (never takes the SQLite write lock)."""
        with self._sessions() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def ping(engine: Engine) -> bool:
    """Whether the database answers a trivial query."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar() == 1
