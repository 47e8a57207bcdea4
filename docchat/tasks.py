"""Background tasks with progress, stored in the database so any worker process can report them.

A task runs in this process's thread pool; its progress (processed / total, the current item,
errors) is written to its row as it goes, with a heartbeat.  Its row names the lease of the
process running it (``runner``, docchat.leases).  A task whose process died ends as
``interrupted``, with ``finished_at`` and an error saying so, written by ``recover``: at start-up
and on every heartbeat of any live runner.  A runner on this machine is known dead at once from its
lease; one elsewhere (another host on the same PostgreSQL) once its task has been silent for
``HEARTBEAT_TIMEOUT``.  Tasks are visible only to the owner who started them (``owner=None``,
single-user mode, sees all: ``docchat.owners``).

A task can be cancelled (``TaskRunner.cancel``): a queued one ends ``cancelled`` at once and never
runs; a running one is asked to stop, a flag its job checks between two steps
(``Progress.check_cancelled``), and ends ``cancelled`` when it does.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Integer, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from docchat.db import Base, Database, JSONType, UTCDateTime, utcnow
from docchat.errors import Cancelled, Conflict, DocchatError, TaskNotFound
from docchat.leases import Lease
from docchat.owners import scope, visible_to
from docchat.validation import plausible_id

log = logging.getLogger(__name__)

TaskStatus = Literal["queued", "running", "succeeded", "failed", "interrupted", "cancelled"]
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
    """Handed to a task's function: report progress (writes are throttled, the last one forced)
    and learn whether the task was cancelled."""

    def __init__(self, db: Database, task_id: str) -> None:
        self._db = db
        self._id = task_id
        self._last_write = 0.0
        self._cancel = threading.Event()
        self.processed = 0
        self.total = 0
        self.current: str | None = None
        self.errors: list[Any] = []
        #: What ``TaskRunner.track`` records as the task's result.
        self.result: Any = None

    @property
    def id(self) -> str:
        """The task's id."""
        return self._id

    @property
    def cancel_flag(self) -> threading.Event:
        """The flag ``cancelled`` reads, for work that waits on an event."""
        return self._cancel

    @property
    def cancelled(self) -> bool:
        """Whether the task was asked to stop."""
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise ``Cancelled`` if the task was asked to stop; call it where stopping is safe."""
        if self._cancel.is_set():
            raise Cancelled(self._id)

    def request_cancel(self) -> None:
        """Ask the task to stop (``TaskRunner.cancel``)."""
        self._cancel.set()

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
#: ``TaskRunner.unfinished``: which of these task ids are still queued or running.
Unfinished = Callable[[list[str]], Collection[str]]
#: Run after each recovery with ``Unfinished``, to finish what the interrupted tasks left
#: elsewhere under their ids (a streamed answer, say: ``SessionStore.interrupt_answers``).
AfterRecover = Callable[[Unfinished], object]


class TaskRunner:
    """Runs tasks in a small thread pool and answers for their state."""

    def __init__(
        self,
        db: Database,
        lease: Lease,
        *,
        workers: int = 2,
        after_recover: AfterRecover | None = None,
    ) -> None:
        self.db = db
        self.lease = lease
        self._after_recover = after_recover
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docchat-task")
        self._progress: dict[str, Progress] = {}
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat_thread = threading.Thread(
            target=self._heartbeats, daemon=True, name="docchat-beat"
        )
        self._beat_thread.start()

    def submit(
        self,
        kind: str,
        fn: TaskFunction,
        *,
        owner: str | None,
        total: int = 0,
        on_skipped: Callable[[], None] | None = None,
    ) -> TaskInfo:
        """Queue ``fn``; returns the new task.  ``on_skipped`` is called instead of ``fn`` if the
        task is cancelled before it starts (to delete what ``fn`` would have consumed, say)."""
        row = self._insert(kind, owner=owner, status="queued", total=total)
        info = _info(row)
        with self._lock:
            self._queued.add(row.id)
        self._pool.submit(self._run, row.id, fn, total, on_skipped)
        return info

    def _insert(self, kind: str, *, owner: str | None, status: str, total: int) -> TaskRow:
        """A new task row of this runner, committed."""
        now = utcnow()
        row = TaskRow(
            id=str(uuid.uuid4()),
            owner=owner,
            kind=kind,
            status=status,
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
        return row

    @contextmanager
    def track(self, kind: str, *, owner: str | None, total: int = 0) -> Iterator[Progress]:
        """Record work done in the caller's own thread as a running task (a streamed chat turn):
        it can be cancelled and, if this process dies, ends ``interrupted`` like any other.  Set
        ``result`` on the yielded progress to record one; an exception fails the task (and goes
        on), ``Cancelled`` cancels it."""
        row = self._insert(kind, owner=owner, status="running", total=total)
        progress = Progress(self.db, row.id)
        progress.total = total
        with self._lock:
            self._progress[row.id] = progress
        try:
            yield progress
        except Cancelled:
            progress._write(status="cancelled", finished_at=utcnow())
        except GeneratorExit:  # the generator doing the work was closed: its consumer left
            progress._write(status="cancelled", finished_at=utcnow())
            raise
        except DocchatError as exc:
            progress.errors.append({"message": exc.message, "code": exc.code})
            progress._write(status="failed", finished_at=utcnow())
            raise
        except BaseException:
            progress.errors.append({"message": "the task failed unexpectedly (see server log)"})
            progress._write(status="failed", finished_at=utcnow())
            raise
        else:
            status = "cancelled" if progress.cancelled else "succeeded"
            progress._write(status=status, result=progress.result, finished_at=utcnow())
        finally:
            with self._lock:
                self._progress.pop(row.id, None)

    def _run(
        self,
        task_id: str,
        fn: TaskFunction,
        total: int,
        on_skipped: Callable[[], None] | None = None,
    ) -> None:
        progress = Progress(self.db, task_id)
        progress.total = total
        with self._lock:
            self._queued.discard(task_id)
            # Registered before the claim, so that a cancel that finds the task running finds it.
            self._progress[task_id] = progress
        try:
            if not self._claim(task_id):
                # Cancelled while it waited (or interrupted): it never runs.
                self._skipped(task_id, on_skipped)
                return
            result = fn(progress)
        except Cancelled:
            progress._write(status="cancelled", finished_at=utcnow())
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

    @staticmethod
    def _skipped(task_id: str, on_skipped: Callable[[], None] | None) -> None:
        # The row is final already: a failing clean-up is logged, not written over it.
        if on_skipped is not None:
            try:
                on_skipped()
            except Exception:
                log.exception("clean-up of skipped task %s failed", task_id)

    def _claim(self, task_id: str) -> bool:
        """Mark a queued task running; False when it is no longer queued (cancelled meanwhile)."""
        with self.db.write() as s:
            claimed = s.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id, TaskRow.status == "queued")
                .values(status="running", updated_at=utcnow())
            )
            return bool(claimed.rowcount)  # type: ignore[attr-defined]

    def cancel(self, task_id: str, *, owner: str | None) -> TaskInfo:
        """Cancel a task; returns it.  A queued one ends ``cancelled`` now and never runs; a
        running one ends so at its job's next ``check_cancelled`` (it is returned as it is now;
        a job that finishes before it checks ends as it would have).

        TaskNotFound when unknown or someone else's; Conflict when it has finished, or when it runs
        in another docchat process (which alone can stop it).
        """
        current = self.get(task_id, owner=owner)
        if current.finished_at is None:
            now = utcnow()
            with self.db.write() as s:
                cancelled = s.execute(
                    update(TaskRow)
                    .where(TaskRow.id == task_id, TaskRow.status == "queued")
                    .values(status="cancelled", updated_at=now, finished_at=now)
                )
            if cancelled.rowcount:  # type: ignore[attr-defined]
                return self.get(task_id, owner=owner)
            with self._lock:
                progress = self._progress.get(task_id)
            if progress is not None:
                progress.request_cancel()
                return self.get(task_id, owner=owner)
            current = self.get(task_id, owner=owner)
            if current.finished_at is None:
                raise Conflict(
                    f"task {task_id!r} runs in another docchat process; it cannot be cancelled "
                    "from this one"
                )
        raise Conflict(f"task {task_id!r} has already finished ({current.status})")

    def recover(self) -> int:
        """Finish the tasks of processes that died, and delete their files; returns how many
        tasks were interrupted.

        Tasks of a dead lease on this machine end at once; tasks of an unknown runner (another
        host) once silent for ``HEARTBEAT_TIMEOUT``; tasks of a live lease are left alone.
        """
        dead = self.lease.dead()
        interrupted = self._interrupt(dead)
        if self._after_recover is not None:
            # After the tasks, so that it sees them finished; a failure waits for the next beat.
            try:
                self._after_recover(self.unfinished)
            except Exception:
                log.warning("finishing the work of interrupted tasks failed", exc_info=True)
        # Only now that their tasks are finished: the lock files are how the tasks were found.
        self.lease.reap(dead)
        return interrupted

    def unfinished(self, task_ids: list[str]) -> set[str]:
        """Those of ``task_ids`` whose tasks are queued or running (unknown ids are not)."""
        found: set[str] = set()
        for start in range(0, len(task_ids), 500):  # bound the IN list
            batch = task_ids[start : start + 500]
            with self.db.read() as s:
                found.update(
                    s.scalars(
                        select(TaskRow.id).where(
                            TaskRow.id.in_(batch), TaskRow.status.in_(UNFINISHED)
                        )
                    )
                )
        return found

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
        if row is None or not visible_to(row.owner, owner):
            raise TaskNotFound(str(task_id))
        return _info(row)

    def list(self, *, owner: str | None, limit: int = 50) -> list[TaskInfo]:
        """The owner's most recent tasks."""
        query = (
            select(TaskRow)
            .where(scope(TaskRow.owner, owner))
            .order_by(TaskRow.created_at.desc())
            .limit(limit)
        )
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
