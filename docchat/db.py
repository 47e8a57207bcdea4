"""Engine, declarative base, column types and transactions, for SQLite and PostgreSQL alike.

SQLite is configured for many threads and several processes on one file: WAL (readers never block
the writer), a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so two writers queue on
the lock instead of deadlocking when both try to upgrade a read lock (which SQLite answers with an
immediate "database is locked", busy timeout or not).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import deque
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

log = logging.getLogger(__name__)

#: JSON column: JSONB on PostgreSQL, JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: Auto-increment key: 64-bit on PostgreSQL, the rowid alias on SQLite (FTS5 wants an integer).
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_time(value: dt.datetime) -> str:
    """How a timestamp is stored in SQLite: UTC text with microseconds (sorts as it compares)."""
    # isoformat with fixed microseconds: the same text as SQLITE_TIME_FORMAT, a third of the cost.
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


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
            return self.from_sqlite(value)
        assert isinstance(value, dt.datetime)
        return value.astimezone(dt.UTC)

    @staticmethod
    def from_sqlite(text: str) -> dt.datetime:
        """The aware datetime of SQLite text written by ``sqlite_time`` (or of any ISO text)."""
        try:
            # Naming the offset in the text: 0.09 us, where fromisoformat(...).replace(tzinfo=...)
            # takes 0.85 us (CPython 3.11's replace parses keywords slowly); 4 ms of a
            # 5,000-message read (bench/sessions.py, scenario d).
            value = dt.datetime.fromisoformat(text + "+00:00")
        except ValueError:  # text that names its own offset
            value = dt.datetime.fromisoformat(text)
            if value.tzinfo is not None:
                return value.astimezone(dt.UTC)
        # A bare date takes "+" for the separator and "00:00" for the time: naive midnight.
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every docchat table."""


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(settings: Settings) -> Engine:
    """Create the engine for ``settings.effective_database_url``, tuned for its backend."""
    url = make_url(settings.effective_database_url.get_secret_value())
    db = settings.database
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # Last in, first out: a thread gets back the connection it just used.  SQLite keeps a
        # page cache per connection and empties it when another connection wrote since, so
        # going round the pool (first in, first out) read again every page an append touches.
        pool: dict[str, Any] = (
            {"poolclass": NullPool}
            if url.database in (None, "", ":memory:")
            else {"pool_use_lifo": True}
        )
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
            **pool,
        )
        synchronous = "FULL" if db.durability == "power" else "NORMAL"

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(db.busy_timeout_s * 1000)}")
            # Checkpoints run in the background (Database's checkpointer); this larger automatic
            # one is only a backstop for a process that has none running.
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
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


#: Pages of WAL after which a commit checkpoints by itself (SQLite's default is 1,000).
WAL_AUTOCHECKPOINT_PAGES = 8_000
#: How often the background checkpointer copies the WAL into the database file.
CHECKPOINT_INTERVAL_S = 0.1


class Checkpointer:
    """Copies SQLite's write-ahead log into the database file from a background thread.

    SQLite otherwise checkpoints inside whichever commit crosses 1,000 WAL pages, and that commit
    takes several milliseconds longer: the whole 99th percentile of an append under load
    (bench/sessions.py).  A PASSIVE checkpoint neither waits for nor blocks readers and writers.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._stop = threading.Event()
        self.runs = 0
        self._thread = threading.Thread(target=self._loop, daemon=True, name="docchat-wal")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(CHECKPOINT_INTERVAL_S):
            try:
                with self._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                self.runs += 1
            except Exception:  # a busy or closing database: the next round retries
                log.debug("WAL checkpoint skipped", exc_info=True)

    def stop(self) -> None:
        """End the thread (after its current checkpoint)."""
        self._stop.set()
        self._thread.join()


class FairLock:
    """A lock handed to its waiters in arrival order.

    ``threading.Lock`` lets a releasing thread take the lock straight back, so under steady
    contention some waiters starve for tens of milliseconds; here ``release`` hands the lock to
    the oldest waiter instead.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def __enter__(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by the thread that hands the lock over

    def __exit__(self, *exc_info: object) -> None:
        with self._guard:
            if self._waiters:
                self._waiters.popleft().release()  # still held: now by the oldest waiter
            else:
                self._held = False


class Database:
    """An engine plus the session factory and transaction helpers every store uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        #: The engine for write transactions (``BEGIN IMMEDIATE`` on SQLite).
        self.writer = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write_sessions = sessionmaker(self.writer, expire_on_commit=False)
        # SQLite admits one writer at a time.  Threads of this process queue for it here, in
        # arrival order, instead of in SQLite's busy handler, which sleeps 1, 2, 5 ... 100 ms
        # between retries and turns a 0.3 ms wait into tens of milliseconds (bench/sessions.py).
        # Other processes still meet at SQLite's lock.  PostgreSQL needs no such queue.
        self._write_queue = FairLock() if engine.dialect.name == "sqlite" else None
        file_backed = engine.dialect.name == "sqlite" and engine.url.database not in (
            None,
            "",
            ":memory:",
        )
        self.checkpointer = Checkpointer(engine) if file_backed else None

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
    def driver_transaction(self) -> Iterator[Any]:
        """A write transaction on the driver's own connection, for hot paths written in plain SQL:
        yields a DB-API cursor; commits on exit, rolls back on error, returns the connection to
        the pool.  The caller holds ``writing()`` where it needs the SQLite queue."""
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            if self.engine.dialect.name == "sqlite":
                cur.execute("BEGIN IMMEDIATE")  # the connection is in driver autocommit mode
            yield cur
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (never takes the SQLite write lock)."""
        with self._sessions() as session:
            yield session

    def dispose(self) -> None:
        """Stop background work and close every pooled connection."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


def ping(engine: Engine) -> bool:
    """Whether the database answers a trivial query."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar() == 1
