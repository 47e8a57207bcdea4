"""Group commit for SQLite appends: threads that arrive while one commit runs share the next.

SQLite has one writer and a commit costs more than the two statements of an append, so under
contention most of a thread's time is queueing for the lock. Here one thread at a time leads: it
takes every append queued so far, runs them in one transaction and commits once; each of the others
is woken alone, with its result (no thundering herd), and the oldest one still queued is woken to
lead the next batch. Each call still returns only after the commit that holds its message, so
nothing is acknowledged before it is durable. (PostgreSQL groups commits itself.)

Leaders run their batches on one driver connection of their own, kept open rather than checked out
of the engine's pool per batch: a checkout and its return cost more than SQLite's whole UPDATE of
the session row (bench/sessions.py), and one connection that only appends keeps SQLite's page cache
of the pages an append touches.  Only the leader uses it, under ``Database.writing``, so one thread
at a time.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

from docchat.db import Database
from docchat.errors import SessionNotFound

#: At most this many appends share one transaction (bounds a leader's extra latency).
MAX_BATCH = 256


@dataclass(slots=True)
class _Append:
    bump: str
    insert: str
    params: dict[str, Any]
    result: tuple[int, int] | None = None  # (position, message id)
    error: BaseException | None = None
    done: bool = False
    #: Set when the append is done, or when this thread is to lead the next batch; made only for
    #: an append that has to wait (a lone one leads at once, and an Event costs 1-4 us).
    wake: threading.Event | None = None


class GroupCommit:
    """Runs message appends on one SQLite database, batching concurrent ones."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._guard = threading.Lock()
        self._queue: deque[_Append] = deque()
        self._leading = False
        #: The leaders' driver connection: opened by the first batch, closed with the engine.
        self._conn: Any = None

    def append(self, bump: str, insert: str, params: dict[str, Any]) -> tuple[int, int]:
        """Run ``bump`` (returns the next position) then ``insert`` (returns the id); commit."""
        item = _Append(bump, insert, params)
        with self._guard:
            self._queue.append(item)
            lead = not self._leading
            if lead:
                self._leading = True
            else:
                item.wake = threading.Event()
        if item.wake is not None:
            item.wake.wait()
        if not item.done:
            self._lead()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _lead(self) -> None:
        queue = self._queue
        with self._guard:
            if len(queue) <= MAX_BATCH:
                batch = list(queue)
                queue.clear()
            else:
                batch = [queue.popleft() for _ in range(MAX_BATCH)]
        try:
            self._run(batch)
        finally:
            for done in batch:
                if done.wake is not None:
                    done.wake.set()
            with self._guard:
                if self._queue:
                    # Not done, and queued while a leader ran, so it has an Event: it leads next.
                    wake = self._queue[0].wake
                    assert wake is not None
                    wake.set()
                else:
                    self._leading = False

    def _run(self, batch: list[_Append]) -> None:
        # With company, each append runs inside its own savepoint: one that fails (a bug, a value
        # the driver refuses) is rolled back alone and the others still commit.  A lone append
        # needs none; its failure rolls back the transaction.
        isolate = len(batch) > 1
        try:
            with self._db.writing():
                conn = self._connection()
                cur = conn.cursor()
                # The connection is in the driver's autocommit mode (db.make_engine).
                cur.execute("BEGIN IMMEDIATE")
                try:
                    for item in batch:
                        if isolate:
                            _run_isolated(cur, item)
                        else:
                            _run_item(cur, item)
                    conn.commit()
                except BaseException:
                    conn.rollback()
                    raise
        except BaseException as exc:
            # Nothing of the batch was committed (the commit itself failed, or a lone append).
            for item in batch:
                item.result = None
                item.error = item.error or exc
        finally:
            for item in batch:
                item.done = True

    def _connection(self) -> Any:
        """The leaders' connection (the caller holds ``Database.writing``)."""
        if self._conn is None:
            # Made by the engine, so it has docchat's pragmas, then taken out of the pool's
            # accounting: the pool neither counts it nor hands it to anyone else.
            pooled = self._db.engine.raw_connection()
            pooled.detach()
            self._conn = pooled.dbapi_connection
            if not event.contains(self._db.engine, "engine_disposed", self._close):
                event.listen(self._db.engine, "engine_disposed", self._close)
        return self._conn

    def _close(self, _engine: Any) -> None:
        # Database.dispose: closed with the pooled connections.  Under the writer queue, so a batch
        # in flight finishes first; a later append opens a new one.
        with self._db.writing():
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _run_item(cur: Any, item: _Append) -> None:
    item.result = run_append(cur, item.bump, item.insert, item.params)
    if item.result is None:
        item.error = SessionNotFound(item.params["sid"])


def _run_isolated(cur: Any, item: _Append) -> None:
    cur.execute("SAVEPOINT docchat_append")
    try:
        _run_item(cur, item)
    except Exception as exc:
        cur.execute("ROLLBACK TO docchat_append")
        item.result, item.error = None, exc
    finally:
        cur.execute("RELEASE docchat_append")


def run_append(cur: Any, bump: str, insert: str, params: dict[str, Any]) -> tuple[int, int] | None:
    """Run an append's two statements on a DB-API cursor: (position, message id), or None when
    ``bump`` found no session (nothing was written)."""
    cur.execute(bump, params)
    bumped = cur.fetchone()
    if bumped is None:
        return None
    params["pos"] = position = bumped[0] - 1
    cur.execute(insert, params)
    inserted = cur.fetchone()
    assert inserted is not None  # INSERT ... RETURNING always answers
    return position, int(inserted[0])
