"""The in-process task runner: background tasks in a thread pool, their progress in the database.

A task runs in this process's thread pool; its progress (processed / total, the current item,
errors) is written to its row as it goes, with a heartbeat.  Its row names the lease of the
process running it (``runner``, docchat.tasks.leases).  A task whose process died ends as
``interrupted``, with ``finished_at`` and an error saying so, written by ``recover``: at start-up
and by the periodic clean-up (``cleanup``, every ``tasks.cleanup_interval_s``, on a timer here; once
across a cluster's workers in docchat.tasks.queue).  A runner on this machine is known dead at once
from its lease; one elsewhere (another host on the same PostgreSQL) once its task has been silent
for ``HEARTBEAT_TIMEOUT``.  Tasks are visible only to the owner who started them (``owner=None``,
single-user mode, sees all: ``docchat.owners``).

It runs named jobs (``Job``) with the ``JobHandler`` it is given, deleting a job's files when the
job ends or is skipped; code of this process may also hand it a function (``TaskFunction``).

A task can be cancelled (``ThreadRunner.cancel``): a queued one ends ``cancelled`` at once and never
runs; a running one is asked to stop, a flag its job checks between two steps
(``Progress.check_cancelled``), and ends ``cancelled`` when it does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy import and_, or_, select, update

from docchat.db import Database, utcnow
from docchat.errors import Cancelled, Conflict, DocchatError, InvalidInput, TaskNotFound
from docchat.owners import scope, visible_to
from docchat.tasks.leases import Lease
from docchat.tasks.models import (
    HEARTBEAT_S,
    HEARTBEAT_TIMEOUT,
    INTERRUPTED_ERROR,
    QUEUE,
    UNFINISHED,
    TaskInfo,
    TaskRow,
    cancel_row,
    task_info,
)
from docchat.tasks.progress import Progress, TaskFunction
from docchat.tasks.runner import AfterRecover, Housekeeping, Job, JobHandler
from docchat.validation import plausible_id

log = logging.getLogger(__name__)


class ThreadRunner:
    """Runs tasks in a small thread pool of this process and answers for their state."""

    def __init__(
        self,
        db: Database,
        lease: Lease,
        *,
        workers: int = 2,
        after_recover: AfterRecover | None = None,
        jobs: JobHandler | None = None,
        housekeeping: Housekeeping | None = None,
        cleanup_interval_s: float = 60.0,
    ) -> None:
        self.db = db
        self.lease = lease
        self._jobs = jobs
        self._after_recover = after_recover
        self._housekeeping = housekeeping
        self._cleanup_interval_s = cleanup_interval_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docchat-task")
        self._progress: dict[str, Progress] = {}
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._accepting = True
        self._beat_thread = threading.Thread(
            target=self._heartbeats, daemon=True, name="docchat-beat"
        )
        self._beat_thread.start()
        self._cleaner = self._start_cleaner()

    def _start_cleaner(self) -> threading.Thread | None:
        """The timer of the periodic clean-up: this process is all there is (SQLite)."""
        cleaner = threading.Thread(target=self._clean_up, daemon=True, name="docchat-cleanup")
        cleaner.start()
        return cleaner

    def _clean_up(self) -> None:
        while not self._stop.wait(self._cleanup_interval_s):
            self.cleanup()

    def submit(
        self,
        kind: str,
        job: Job | TaskFunction,
        *,
        owner: str | None,
        total: int = 0,
        on_skipped: Callable[[], None] | None = None,
    ) -> TaskInfo:
        """Queue ``job`` (or a function of this process); returns the new task.  ``on_skipped`` is
        called instead of a function if the task is cancelled before it starts (to delete what it
        would have consumed, say); a job's files are deleted then, or when it ends."""
        if isinstance(job, Job):
            fn, on_skipped = self._job_function(job)
        else:
            fn = job
        row = self._insert(kind, owner=owner, status="queued", total=total)
        info = task_info(row)
        with self._lock:
            self._queued.add(row.id)
        self._pool.submit(self._run, row.id, fn, total, on_skipped)
        return info

    def _job_function(self, job: Job) -> tuple[TaskFunction, Callable[[], None]]:
        handler = self._jobs
        if handler is None:
            raise InvalidInput(f"this task runner was given no job handler to run {job.name!r}")

        def run(progress: Progress) -> object:
            try:
                return handler.run(job, progress)
            finally:
                handler.discard(job)

        return run, lambda: handler.discard(job)

    def start(self) -> None:
        """Nothing to start: the thread pool takes tasks from construction."""

    def work(self, *, concurrency: int) -> None:  # noqa: ARG002 (the protocol's signature)
        """Refused: with SQLite, docchat is one process, which runs its own tasks."""
        raise InvalidInput(
            "SQLite is one process: its server runs its own background jobs (docchat worker "
            "needs PostgreSQL)"
        )

    @property
    def shared(self) -> bool:
        """False: tasks run in this process only."""
        return False

    def _insert(
        self, kind: str, *, owner: str | None, status: str, total: int, runner: str | None = None
    ) -> TaskRow:
        """A new task row of this runner (or ``runner``), committed."""
        row = TaskRow.new(
            kind, owner=owner, status=status, total=total, runner=runner or self.lease.id
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
            _stopped(progress)
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
            _stopped(progress)
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
            # Only this process could read a flag: another's task is refused below instead.
            if cancel_row(self.db, task_id, flag_running=False):
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

    def cleanup(self) -> dict[str, int]:
        """The periodic clean-up, run now (also at start-up: ``Workspace.resume``): ``recover``,
        then the housekeeping this runner was given (expired logins and tokens).  A step that
        fails is logged and the next one runs; returns what went, by kind."""
        done: dict[str, int] = {}
        try:
            done["interrupted"] = self.recover()
        except Exception:
            log.warning("the clean-up of stopped processes' tasks failed", exc_info=True)
        if self._housekeeping is not None:
            try:
                done.update(self._housekeeping())
            except Exception:
                log.warning("the clean-up's housekeeping failed", exc_info=True)
        if any(done.values()):
            log.info("clean-up: %s", ", ".join(f"{n} {kind}" for kind, n in done.items() if n))
        return done

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
        # A job in the PostgreSQL queue is no process's: its workers answer for it (tasks.queue).
        orphaned = and_(
            or_(TaskRow.runner.in_(dead), TaskRow.updated_at < cutoff),
            or_(TaskRow.runner.is_(None), TaskRow.runner != QUEUE),
        )
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
        while not self._stop.wait(HEARTBEAT_S):
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
        if not queued:
            return
        try:  # a task waiting for a worker is alive too
            with self.db.write() as s:
                s.execute(
                    update(TaskRow)
                    .where(TaskRow.id.in_(queued), TaskRow.status == "queued")
                    .values(updated_at=utcnow())
                )
        except Exception:
            log.warning("task heartbeat failed", exc_info=True)

    def get(self, task_id: str, *, owner: str | None) -> TaskInfo:
        """The task; TaskNotFound when unknown or started by someone else."""
        with self.db.read() as s:
            row = s.get(TaskRow, task_id) if plausible_id(task_id) else None
        if row is None or not visible_to(row.owner, owner):
            raise TaskNotFound(str(task_id))
        return task_info(row)

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
            return [task_info(r) for r in rows]

    def wait(self, task_id: str, *, owner: str | None, timeout: float = 60.0) -> TaskInfo:
        """Poll until the task finishes (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get(task_id, owner=owner)
            if info.finished_at is not None or time.monotonic() > deadline:
                return info
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        """Whether it takes tasks and its heartbeat beats: until ``shutdown`` begins."""
        # The heartbeat thread is what keeps this process's tasks from being taken for a dead
        # process's (HEARTBEAT_TIMEOUT): a runner without it is not one to send work to.
        return self._accepting and self._beat_thread.is_alive()

    def hand_back(self) -> None:
        """Nothing: with SQLite no other process takes this one's tasks (``shutdown`` finishes
        them)."""

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop accepting tasks; by default finish the queued and running ones first, else the
        queued ones end as interrupted."""
        self._accepting = False
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._stop.set()
        self._beat_thread.join()
        if self._cleaner is not None:
            self._cleaner.join()
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


def _stopped(progress: Progress) -> None:
    """End a task that stopped when asked: ``interrupted`` when its process is stopping (saying
    so, as for a process that died), else ``cancelled``."""
    if progress.interrupted:
        progress.errors.append(dict(INTERRUPTED_ERROR))
        progress._write(status="interrupted", finished_at=utcnow())
    else:
        progress._write(status="cancelled", finished_at=utcnow())
