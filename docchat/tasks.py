"""Background tasks with progress, stored in the database so any worker process can report them.

A task runs in this process's thread pool; its progress (processed / total, the current item,
errors) is written to its row as it goes, with a heartbeat.  Its row names the lease of the
process running it (``runner``, docchat.leases).  A task whose process died ends as
``interrupted``, with ``finished_at`` and an error saying so, written by ``recover``: at start-up
and on every heartbeat of any live runner.  A runner on this machine is known dead at once from its
lease; one elsewhere (another host on the same PostgreSQL) once its task has been silent for
``HEARTBEAT_TIMEOUT``.  Tasks are visible only to the owner who started them (``owner=None``,
single-user mode, sees all, as everywhere in docchat).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Integer, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from docchat.db import Base, Database, JSONType, UTCDateTime, utcnow
from docchat.errors import DocchatError, TaskNotFound
from docchat.leases import Lease
from docchat.validation import plausible_id

log = logging.getLogger(__name__)

TaskStatus = Literal["queued", "running", "succeeded", "failed", "interrupted"]
#: Statuses of a task that has not finished.
UNFINISHED = ("queued", "running")
#: An unfinished task of another host's process that has not written for this long is
#: interrupted (its runner's own heartbeat touches it every ``_HEARTBEAT_S``).
HEARTBEAT_TIMEOUT = dt.timedelta(seconds=60)
#: The error entry of an interrupted task.
INTERRUPTED_ERROR = {
    "message": "the server stopped before the task finished",
    "code": "interrupted",
}
_HEARTBEAT_S = 5.0
_MIN_WRITE_INTERVAL_S = 0.25


class TaskRow(Base):
    """A background job (ingestion, re-embedding, long chat modes) and its progress."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    current: Mapped[str | None] = mapped_column(Text)
    errors: Mapped[list[Any]] = mapped_column(JSONType)
    result: Mapped[Any] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The lease id of the process that queued and runs it (None: made before leases existed).
    runner: Mapped[str | None] = mapped_column(String(36))


class TaskInfo(BaseModel):
    """A task as callers see it."""

    id: str
    kind: str
    status: TaskStatus
    processed: int
    total: int
    current: str | None
    errors: list[Any]
    result: Any
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


class Progress:
    """Handed to a task's function: report progress; writes are throttled, the last one forced."""

    def __init__(self, db: Database, task_id: str) -> None:
        self._db = db
        self._id = task_id
        self._last_write = 0.0
        self.processed = 0
        self.total = 0
        self.current: str | None = None
        self.errors: list[Any] = []

    def update(
        self,
        *,
        processed: int | None = None,
        total: int | None = None,
        current: str | None = None,
        error: Any = None,
        force: bool = False,
    ) -> None:
        """Record progress; persisted at most every 0.25 s unless ``force`` or an error."""
        if processed is not None:
            self.processed = processed
        if total is not None:
            self.total = total
        if current is not None:
            self.current = current
        if error is not None:
            self.errors.append(error)
        now = time.monotonic()
        if force or error is not None or now - self._last_write >= _MIN_WRITE_INTERVAL_S:
            self._write()
            self._last_write = now

    def heartbeat(self) -> None:
        """Write the current state if nothing was written for a while."""
        if time.monotonic() - self._last_write >= _HEARTBEAT_S:
            self._write()
            self._last_write = time.monotonic()

    def _write(self, **extra: Any) -> None:
        with self._db.write() as s:
            row = s.get(TaskRow, self._id, with_for_update=True)
            if row is None:
                return
            row.processed, row.total = self.processed, self.total
            row.current, row.errors = self.current, list(self.errors)
            row.updated_at = utcnow()
            for key, value in extra.items():
                setattr(row, key, value)


TaskFunction = Callable[[Progress], Any]


class TaskRunner:
    """Runs tasks in a small thread pool and answers for their state."""

    def __init__(self, db: Database, lease: Lease, *, workers: int = 2) -> None:
        self.db = db
        self.lease = lease
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docchat-task")
        self._progress: dict[str, Progress] = {}
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat_thread = threading.Thread(
            target=self._heartbeats, daemon=True, name="docchat-beat"
        )
        self._beat_thread.start()

    def submit(self, kind: str, fn: TaskFunction, *, owner: str | None, total: int = 0) -> TaskInfo:
        """Queue ``fn``; returns the new task."""
        now = utcnow()
        row = TaskRow(
            id=str(uuid.uuid4()),
            owner=owner,
            kind=kind,
            status="queued",
            total=total,
            processed=0,
            current=None,
            errors=[],
            result=None,
            created_at=now,
            updated_at=now,
            finished_at=None,
            runner=self.lease.id,
        )
        with self.db.write() as s:
            s.add(row)
        info = _info(row)
        with self._lock:
            self._queued.add(row.id)
        self._pool.submit(self._run, row.id, fn, total)
        return info

    def _run(self, task_id: str, fn: TaskFunction, total: int) -> None:
        progress = Progress(self.db, task_id)
        progress.total = total
        with self._lock:
            self._queued.discard(task_id)
            self._progress[task_id] = progress
        progress._write(status="running")
        try:
            result = fn(progress)
        except DocchatError as exc:
            progress.errors.append({"message": exc.message, "code": exc.code})
            progress._write(status="failed", finished_at=utcnow())
        except Exception:
            log.exception("task %s failed", task_id)
            progress.errors.append({"message": "the task failed unexpectedly (see server log)"})
            progress._write(status="failed", finished_at=utcnow())
        else:
            progress._write(status="succeeded", result=result, finished_at=utcnow())
        finally:
            with self._lock:
                self._progress.pop(task_id, None)

    def recover(self) -> int:
        """Finish the tasks of processes that died, and delete their files; returns how many
        tasks were interrupted.

        Tasks of a dead lease on this machine end at once; tasks of an unknown runner (another
        host) once silent for ``HEARTBEAT_TIMEOUT``; tasks of a live lease are left alone.
        """
        dead = self.lease.dead()
        interrupted = self._interrupt(dead)
        # Only now that their tasks are finished: the lock files are how the tasks were found.
        self.lease.reap(dead)
        return interrupted

    def _interrupt(self, dead: list[str]) -> int:
        cutoff = utcnow() - HEARTBEAT_TIMEOUT
        orphaned = or_(TaskRow.runner.in_(dead), TaskRow.updated_at < cutoff)
        query = select(TaskRow.id, TaskRow.runner).where(TaskRow.status.in_(UNFINISHED), orphaned)
        with self.db.read() as s:
            candidates = s.execute(query).all()
        # A silent task of a live lease here is running (the database was slow, say): keep it.
        ids = [
            task_id
            for task_id, runner in candidates
            if runner in dead or self.lease.state(runner) != "live"
        ]
        if not ids:
            return 0
        now = utcnow()
        count = 0
        with self.db.write() as s:
            # Read again under the write lock: the runner may have finished it meanwhile.
            rows = s.scalars(
                select(TaskRow)
                .where(TaskRow.id.in_(ids), TaskRow.status.in_(UNFINISHED), orphaned)
                .with_for_update()
            )
            for row in rows:
                row.status = "interrupted"
                row.errors = [*(row.errors or []), dict(INTERRUPTED_ERROR)]
                row.updated_at = row.finished_at = now
                count += 1
        if count:
            log.warning("%d task(s) of stopped docchat processes marked interrupted", count)
        return count

    def _heartbeats(self) -> None:
        while not self._stop.wait(_HEARTBEAT_S):
            self._beat()

    def _beat(self) -> None:
        with self._lock:
            running = list(self._progress.values())
            queued = list(self._queued)
        for progress in running:
            try:
                progress.heartbeat()
            except Exception:  # the next beat retries; a task must not die of a beat
                log.warning("task heartbeat failed", exc_info=True)
        try:
            if queued:  # a task waiting for a worker is alive too
                with self.db.write() as s:
                    s.execute(
                        update(TaskRow)
                        .where(TaskRow.id.in_(queued), TaskRow.status == "queued")
                        .values(updated_at=utcnow())
                    )
            self.recover()
        except Exception:
            log.warning("task heartbeat failed", exc_info=True)

    def get(self, task_id: str, *, owner: str | None) -> TaskInfo:
        """The task; TaskNotFound when unknown or started by someone else."""
        with self.db.read() as s:
            row = s.get(TaskRow, task_id) if plausible_id(task_id) else None
        if row is None or (owner is not None and row.owner != owner):
            raise TaskNotFound(str(task_id))
        return _info(row)

    def list(self, *, owner: str | None, limit: int = 50) -> list[TaskInfo]:
        """The owner's most recent tasks."""
        query = select(TaskRow).order_by(TaskRow.created_at.desc()).limit(limit)
        if owner is not None:
            query = query.where(TaskRow.owner == owner)
        with self.db.read() as s:
            rows = s.execute(query).scalars()
            return [_info(r) for r in rows]

    def wait(self, task_id: str, *, owner: str | None, timeout: float = 60.0) -> TaskInfo:
        """Poll until the task finishes (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get(task_id, owner=owner)
            if info.finished_at is not None or time.monotonic() > deadline:
                return info
            time.sleep(0.05)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop accepting tasks; by default finish the queued and running ones first, else the
        queued ones end as interrupted."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._stop.set()
        self._beat_thread.join()
        with self._lock:
            cancelled, self._queued = list(self._queued), set()
        if cancelled:
            with self.db.write() as s:
                s.execute(
                    update(TaskRow)
                    .where(TaskRow.id.in_(cancelled), TaskRow.status == "queued")
                    .values(
                        status="interrupted",
                        errors=[dict(INTERRUPTED_ERROR)],
                        updated_at=utcnow(),
                        finished_at=utcnow(),
                    )
                )


def _info(row: TaskRow) -> TaskInfo:
    return TaskInfo(
        id=row.id,
        kind=row.kind,
        status=row.status,
        processed=row.processed,
        total=row.total,
        current=row.current,
        errors=list(row.errors or []),
        result=row.result,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )
