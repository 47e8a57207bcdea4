"""The PostgreSQL task runner: jobs go through procrastinate's queue, any worker may run them.

``submit`` writes the task's row (``runner`` is ``QUEUE``) and queues the ``Job`` (name and JSON
arguments) with procrastinate; whichever process runs a worker (``docchat worker``, or a server
with its in-process worker) takes it, runs it with its own workspace's ``JobHandler`` and writes
progress, status and result to the row.  The row stays the source of truth, so ``get``, ``list``
and ``wait`` answer the same from every node.

Cancel works from any node: a queued task ends ``cancelled`` at once (its worker skips it); a
running one gets ``cancel_requested`` in its row, which the process running it reads every
``CANCEL_POLL_S`` and turns into ``Progress.request_cancel``.  Chat turns streamed by a server
(``track``) are watched the same way.

A job's files (an upload's) are moved at submission into ``<data_dir>/jobs/<task id>/``, out of
the receiving process's lease spool, which that process deletes when it stops: in a cluster the
data dir is a shared volume, and the files wait there for whichever node runs the job, until the
job is over (any node's ``recover`` deletes the folders of finished tasks).

A worker told to stop (SIGTERM or SIGINT to ``docchat worker``, a server's in-process worker as
the server shuts down: ``hand_back``) takes no more jobs and, after ``tasks.shutdown_grace_s``
(default 0), hands its running ones back: each stops at its next cancellation check as if
cancelled, and one that may run again goes back to the queue at once (its row ``queued`` with
``HANDED_BACK_NOTE``, the job retried now, not counted among its ``MAX_ATTEMPTS``), for another
worker; one that may not (a chat turn) ends ``interrupted``, its partial answer kept.  The process
exits as soon as they have stopped, not when they would have finished.

A worker killed mid-job (SIGKILL, a lost machine) stops sending procrastinate's heartbeat; after
``STALLED_AFTER_S`` any live worker finds its job stalled and queues it again, up to
``MAX_ATTEMPTS`` runs in all (its steps are idempotent: an ingest finds what was stored
unchanged).  A job that may not run twice (a chat turn) ends ``interrupted`` instead, its partial
answer kept.  A job that fails unexpectedly is retried the same way; after ``MAX_ATTEMPTS`` it
stays ``failed`` with the reason of each attempt.

The periodic clean-up (``cleanup``: tasks of dead processes ended, files no task needs deleted,
the workspace's housekeeping) runs once per tick of ``tasks.cleanup_interval_s`` across the
cluster, not once per node: every worker registers it as a procrastinate periodic task, whose
deferrer records each tick in ``procrastinate_periodic_defers`` under a unique constraint, so one
worker queues it and one runs it.  Its lock keeps two ticks from running at once; its queueing
lock keeps ticks from piling up while every worker is busy; its priority puts it before the jobs
waiting.

Procrastinate's tables are created by our migration 0011, once, never by a node at start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from docchat.db import Database, utcnow
from docchat.errors import Cancelled, Conflict, DocchatError
from docchat.tasks.leases import Lease
from docchat.tasks.models import (
    HANDED_BACK_NOTE,
    INTERRUPTED_ERROR,
    QUEUE,
    UNFINISHED,
    TaskInfo,
    TaskRow,
    cancel_row,
    task_info,
)
from docchat.tasks.progress import Progress
from docchat.tasks.runner import AfterRecover, Housekeeping, Job, JobHandler
from docchat.tasks.threads import ThreadRunner, _stopped

log = logging.getLogger(__name__)

#: procrastinate's name for our task that runs a ``Job``.
TASK_NAME = "docchat.job"
#: procrastinate's name for the periodic clean-up (also its lock and queueing lock).
CLEANUP_TASK = "docchat.cleanup"
#: Above the jobs' 0: a tick runs before the jobs waiting (it takes a fraction of a second).
CLEANUP_PRIORITY = 10
#: How many times a job runs at most (a first run and its retries).
MAX_ATTEMPTS = 3
#: How often a process running tasks reads their cancel requests.
CANCEL_POLL_S = 0.25
#: How often a worker writes procrastinate's heartbeat, and after how long without one its jobs
#: are taken for stalled.  A busy 2-core machine delays a heartbeat by a second or two, not ten.
HEARTBEAT_INTERVAL_S = 2.0
STALLED_AFTER_S = 10.0
#: How long the queue's connection pools wait for a connection.  psycopg_pool's 30 s default
#: held a server's shutdown for over 30 s when its database had gone (tests/api/
#: test_readiness_api.py): procrastinate unregisters its worker as it stops.
POOL_TIMEOUT_S = 5.0
#: Folder of the data dir holding a queued job's files until the job is over.
JOBS_DIR = "jobs"


class _Retry(Exception):
    """Raised to procrastinate to run the job again, a second later (an attempt failed)."""


class _HandBack(Exception):
    """Raised to procrastinate to queue the job again now, for another worker (this one stops)."""


def _retry_strategy() -> Any:
    """procrastinate's retry strategy: our two exceptions, nothing else (the job decided)."""
    import procrastinate

    class Again(procrastinate.BaseRetryStrategy):
        def get_retry_decision(
            self,
            *,
            exception: BaseException,
            job: Any,  # noqa: ARG002 (procrastinate's signature)
        ) -> procrastinate.RetryDecision | None:
            if isinstance(exception, _HandBack):
                return procrastinate.RetryDecision(retry_in={"seconds": 0})
            if isinstance(exception, _Retry):
                return procrastinate.RetryDecision(retry_in={"seconds": 1})
            return None

    return Again()


def cleanup_cron(interval_s: int) -> str:
    """The cron of a clean-up every ``interval_s`` seconds (which divides a minute, an hour or a
    day: ``TaskSettings``); six fields when it counts seconds, as procrastinate reads them."""
    if interval_s % 3600 == 0:
        return f"0 */{interval_s // 3600} * * *"
    if interval_s % 60 == 0:
        return f"*/{interval_s // 60} * * * *"
    return f"* * * * * */{interval_s}"


def _handed_back(errors: list[Any]) -> int:
    """How many times a task was handed back (runs that were no failed attempts)."""
    return sum(1 for e in errors if isinstance(e, dict) and e.get("code") == "handed_back")


class QueueRunner(ThreadRunner):
    """Queues tasks' jobs in PostgreSQL; runs them in workers of this or other processes.

    It is a ``ThreadRunner`` for what stays in the process: chat turns streamed here (``track``),
    the heartbeats of its running tasks and ``recover``.  ``concurrency`` is how many jobs the
    in-process worker runs at once (started by ``start`` or the first ``submit``); 0 for a web
    node that only queues them.  The periodic clean-up runs in the workers, no timer here.
    """

    def __init__(
        self,
        db: Database,
        lease: Lease,
        *,
        jobs: JobHandler,
        after_recover: AfterRecover | None = None,
        housekeeping: Housekeeping | None = None,
        concurrency: int = 2,
        cleanup_interval_s: int = 60,
        shutdown_grace_s: float = 0.0,
    ) -> None:
        super().__init__(
            db,
            lease,
            workers=1,
            after_recover=after_recover,
            jobs=jobs,
            housekeeping=housekeeping,
            cleanup_interval_s=cleanup_interval_s,
        )
        self._handler = jobs
        self._concurrency = concurrency
        self._cron = cleanup_cron(cleanup_interval_s)
        self._grace_s = shutdown_grace_s
        #: The ticks (Unix times) of the periodic clean-ups this process's worker ran, latest last.
        self.cleanups: collections.deque[int] = collections.deque(maxlen=1000)
        # Jobs this process's worker runs now (not the turns it tracks), and the stop sequence.
        self._performing: set[str] = set()
        self._stopping_worker = False
        self._handing_back = False
        self._signals = 0
        url = db.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._defer_app: Any = None
        self._worker: threading.Thread | None = None
        self._worker_loop: asyncio.AbstractEventLoop | None = None
        self._worker_task: asyncio.Task[Any] | None = None
        self._watch_stop = threading.Event()
        self._watcher = threading.Thread(
            target=self._watch_cancels, daemon=True, name="docchat-cancels"
        )
        self._watcher.start()

    def _start_cleaner(self) -> threading.Thread | None:
        # The workers run the clean-up, once per tick across the cluster (``_work``).
        return None

    @property
    def jobs_dir(self) -> Path:
        """Where queued jobs' files wait for their worker."""
        return self.lease.data_dir / JOBS_DIR

    # -- queueing ------------------------------------------------------------------------------

    def submit(  # type: ignore[override]
        self, kind: str, job: Job, *, owner: str | None, total: int = 0
    ) -> TaskInfo:
        """Queue ``job`` for any worker; returns the new task."""
        if not isinstance(job, Job):
            raise TypeError("the queue runs named jobs (docchat.tasks.runner.Job), not functions")
        row = self._insert(kind, owner=owner, status="queued", total=total, runner=QUEUE)
        try:
            job = self._take_files(row.id, job)
            self._deferrer().configure_task(TASK_NAME).defer(task_id=row.id, job=job.to_json())
        except BaseException:
            self._drop_files(row.id)
            now = utcnow()
            with self.db.write() as s:
                s.execute(
                    update(TaskRow)
                    .where(TaskRow.id == row.id)
                    .values(
                        status="failed",
                        errors=[{"message": "the job could not be queued (see server log)"}],
                        updated_at=now,
                        finished_at=now,
                    )
                )
            raise
        self.start()
        return task_info(row)

    def _take_files(self, task_id: str, job: Job) -> Job:
        """Move the job's files into its own folder, out of this process's spool."""
        if not job.files:
            return job
        folder = self.jobs_dir / task_id
        folder.mkdir(parents=True, exist_ok=True)
        moved = []
        for i, name in enumerate(job.files):
            source = self.lease.data_dir / name
            target = folder / f"{i}-{source.name}"
            with contextlib.suppress(FileNotFoundError):  # a refused upload wrote nothing
                shutil.move(source, target)
            moved.append(os.fspath(target.relative_to(self.lease.data_dir)))
        return Job(job.name, job.args, files=tuple(moved), retry=job.retry)

    def _drop_files(self, task_id: str) -> None:
        shutil.rmtree(self.jobs_dir / task_id, ignore_errors=True)

    def _deferrer(self) -> Any:
        with self._lock:
            if self._defer_app is None:
                import procrastinate

                connector = procrastinate.SyncPsycopgConnector(
                    conninfo=self._conninfo, min_size=1, max_size=4, timeout=POOL_TIMEOUT_S
                )
                self._defer_app = procrastinate.App(connector=connector).open()
            return self._defer_app

    # -- cancelling ----------------------------------------------------------------------------

    def cancel(self, task_id: str, *, owner: str | None) -> TaskInfo:
        """Cancel a task from any node: a queued one ends ``cancelled`` now (its worker skips
        it), a running one at its job's next ``check_cancelled``, within ``CANCEL_POLL_S`` of
        this.  TaskNotFound when unknown or someone else's; Conflict once finished."""
        current = self.get(task_id, owner=owner)
        if current.finished_at is not None:
            raise Conflict(f"task {task_id!r} has already finished ({current.status})")
        if cancel_row(self.db, task_id, flag_running=True):
            self._drop_files(task_id)
        else:
            with self._lock:
                progress = self._progress.get(task_id)
            if progress is not None:
                progress.request_cancel()
        return self.get(task_id, owner=owner)

    def _watch_cancels(self) -> None:
        while not self._watch_stop.wait(CANCEL_POLL_S):
            with self._lock:
                running = dict(self._progress)
            if not running:
                continue
            try:
                with self.db.read() as s:
                    asked = list(
                        s.scalars(
                            select(TaskRow.id).where(
                                TaskRow.id.in_(list(running)), TaskRow.cancel_requested
                            )
                        )
                    )
            except Exception:  # the next poll retries
                log.warning("reading cancel requests failed", exc_info=True)
                continue
            for task_id in asked:
                running[task_id].request_cancel()

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the in-process worker (a thread with its own event loop), unless concurrency
        is 0 or it runs already."""
        if self._concurrency <= 0 or not self._accepting:
            return
        with self._lock:
            if self._worker is not None:
                return
            ready = threading.Event()
            self._worker = threading.Thread(
                target=self._run_in_thread, args=(ready,), daemon=True, name="docchat-worker"
            )
            self._worker.start()
        ready.wait(30)

    def _run_in_thread(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._worker_loop = loop
        try:
            self._worker_task = loop.create_task(
                self._work(self._concurrency, signals=False, ready=ready)
            )
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._worker_task)
        except Exception:
            log.exception("the in-process job worker stopped")
        finally:
            ready.set()
            loop.close()

    def work(self, *, concurrency: int) -> None:
        """Run a worker in the foreground until SIGINT or SIGTERM (``docchat worker``); then it
        hands its running jobs back (``hand_back``) and returns once they have stopped."""
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(self._work(concurrency, signals=True))

    @property
    def shared(self) -> bool:
        """True: jobs go through the PostgreSQL queue, for any worker."""
        return True

    async def _work(
        self, concurrency: int, *, signals: bool, ready: threading.Event | None = None
    ) -> None:
        import procrastinate
        from procrastinate.worker import Worker

        self._worker_loop = loop = asyncio.get_running_loop()
        self._worker_task = asyncio.current_task()
        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=self._conninfo,
                min_size=1,
                max_size=concurrency + 2,
                timeout=POOL_TIMEOUT_S,
            )
        )
        app.task(name=TASK_NAME, pass_context=True, retry=_retry_strategy())(self._perform)
        app.periodic(
            cron=self._cron,
            periodic_id="cleanup",
            lock=CLEANUP_TASK,
            queueing_lock=CLEANUP_TASK,
            priority=CLEANUP_PRIORITY,
        )(app.task(name=CLEANUP_TASK)(self._cleanup_tick))
        if signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self._on_signal)
        try:
            async with app.open_async():
                stalls = asyncio.create_task(self._requeue_stalled(app))
                if ready is not None:
                    ready.set()
                worker = Worker(
                    app=app,
                    concurrency=concurrency,
                    name=f"docchat-{self.lease.id[:8]}",
                    # Ours (``_on_signal``): procrastinate's would wait for the running jobs.
                    install_signal_handlers=False,
                    update_heartbeat_interval=HEARTBEAT_INTERVAL_S,
                    stalled_worker_timeout=STALLED_AFTER_S,
                    fetch_job_polling_interval=1.0,
                    # The task's row keeps what happened; the queue keeps only failed jobs.
                    delete_jobs="successful",
                )
                try:
                    # Stopped by cancelling this task (``hand_back``): procrastinate then takes
                    # no more jobs and waits for the running ones, which were handed back.
                    await worker.run()  # type: ignore[no-untyped-call]
                finally:
                    stalls.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await stalls
        finally:
            if signals:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)

    def _on_signal(self) -> None:
        """SIGINT or SIGTERM to ``docchat worker``: hand the running jobs back (a second signal
        skips what is left of the grace period)."""
        self._signals += 1
        if self._signals == 1:
            with self._lock:
                running = len(self._performing)
            log.warning("stopping: handing %d running job(s) back to the queue", running)
            # Off the event loop: the grace period waits, and the loop runs the jobs' ends.
            threading.Thread(target=self.hand_back, daemon=True, name="docchat-hand-back").start()
        else:
            self._hand_back_now()

    def hand_back(self) -> None:
        """Stop the worker taking jobs; once its running jobs have finished or
        ``shutdown_grace_s`` has passed, ask them to stop at their next step and go back to the
        queue (a chat turn ends ``interrupted``).  Returns then, without waiting for them:
        ``shutdown`` (or ``work`` returning) does."""
        with self._lock:
            first, self._stopping_worker = not self._stopping_worker, True
        self._accepting = False
        if not first:
            return
        loop, task = self._worker_loop, self._worker_task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(task.cancel)
        deadline = time.monotonic() + self._grace_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._performing:
                    break
            time.sleep(0.05)
        self._hand_back_now()

    def _hand_back_now(self) -> None:
        with self._lock:
            self._handing_back = True
            running = [self._progress[t] for t in self._performing if t in self._progress]
        for progress in running:
            progress.request_hand_back()

    def _cleanup_tick(self, timestamp: int) -> None:
        """procrastinate's periodic task: the clean-up of the tick ``timestamp`` (once across
        the cluster's workers)."""
        self.cleanup()
        self.cleanups.append(timestamp)

    def _perform(self, context: Any, task_id: str, job: dict[str, Any]) -> None:
        """procrastinate's task: run one job, in a thread of the worker."""
        named = Job.from_json(job)
        attempt = int(context.job.attempts)
        progress = Progress(self.db, task_id)
        with self._lock:
            handing_back = self._handing_back
            if not handing_back:
                self._progress[task_id] = progress
                self._performing.add(task_id)
        if handing_back:  # fetched as this worker stopped: straight back, untouched
            self._note_handed_back(task_id)
            raise _HandBack(task_id)
        try:
            claimed = self._claim_queued(task_id)
            if claimed is None:  # cancelled while it waited: it never runs
                self._done_with_files(named, task_id)
                return
            # An earlier attempt's errors stay with the task.
            progress.total, progress.errors = claimed
            attempt -= _handed_back(progress.errors)  # those runs were no failed attempts
            result = self._handler.run(named, progress)
        except Cancelled:
            if progress.handed_back and named.retry:
                # Its files stay for the worker that takes it next.
                progress.errors.append(dict(HANDED_BACK_NOTE))
                progress._write(status="queued", current=None)
                raise _HandBack(task_id) from None
            self._done_with_files(named, task_id)
            _stopped(progress)
        except DocchatError as exc:
            self._done_with_files(named, task_id)
            progress.errors.append({"message": exc.message, "code": exc.code})
            progress._write(status="failed", finished_at=utcnow())
        except Exception as exc:
            log.exception("job %s of task %s failed", named.name, task_id)
            progress.errors.append(
                {
                    "message": f"attempt {attempt + 1} of {MAX_ATTEMPTS} failed unexpectedly "
                    "(see the worker's log)"
                }
            )
            if named.retry and attempt + 1 < MAX_ATTEMPTS:
                progress._write(status="queued", current=None)
                raise _Retry(task_id) from exc
            self._done_with_files(named, task_id)
            progress._write(status="failed", finished_at=utcnow())
        else:
            self._done_with_files(named, task_id)
            progress._write(status="succeeded", result=result, finished_at=utcnow())
        finally:
            with self._lock:
                self._progress.pop(task_id, None)
                self._performing.discard(task_id)

    def _note_handed_back(self, task_id: str) -> None:
        """Record on the row of a job handed back before it ran that it waits in the queue."""
        with self.db.write() as s:
            row = s.get(TaskRow, task_id, with_for_update=True)
            if row is None or row.status not in UNFINISHED:
                return
            row.status, row.current = "queued", None
            row.errors = [*(row.errors or []), dict(HANDED_BACK_NOTE)]
            row.updated_at = utcnow()

    def _done_with_files(self, job: Job, task_id: str) -> None:
        # Before the final status is written: whoever sees the task finished finds them gone.
        try:
            self._handler.discard(job)
            self._drop_files(task_id)
        except OSError:  # the next recover() deletes the folder of a finished task
            log.warning("deleting the files of task %s failed", task_id, exc_info=True)

    def _claim_queued(self, task_id: str) -> tuple[int, list[Any]] | None:
        """Mark a queued task running; its total and errors so far, or None when it is no longer
        queued."""
        with self.db.write() as s:
            claimed = s.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id, TaskRow.status == "queued")
                .values(status="running", updated_at=utcnow())
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return None
            row = s.execute(
                select(TaskRow.total, TaskRow.errors).where(TaskRow.id == task_id)
            ).one()
            return row.total or 0, list(row.errors or [])

    async def _requeue_stalled(self, app: Any) -> None:
        """Run again (or end) the jobs of workers that stopped sending heartbeats."""
        from procrastinate.jobs import Status

        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            try:
                stalled = await app.job_manager.get_stalled_jobs(
                    seconds_since_heartbeat=STALLED_AFTER_S
                )
                for found in stalled:
                    if found.task_name == CLEANUP_TASK:
                        # The next tick cleans up; this one must not hold the lock for ever.
                        await app.job_manager.finish_job(found, Status.FAILED, delete_job=True)
                        continue
                    if found.task_name != TASK_NAME:
                        continue
                    task_id = found.task_kwargs["task_id"]
                    job = Job.from_json(found.task_kwargs["job"])
                    # The row first: a worker that takes the job again finds it queued.
                    again = await asyncio.to_thread(
                        self._after_stall, task_id, job, int(found.attempts)
                    )
                    if again:
                        await app.job_manager.retry_job(found)
                    else:
                        await app.job_manager.finish_job(found, Status.FAILED, delete_job=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # another worker requeued it first, or the database hiccupped
                log.warning("requeueing stalled jobs failed", exc_info=True)

    def _after_stall(self, task_id: str, job: Job, attempts: int) -> bool:
        """Record on the task's row that its worker stopped: queued again (True), or ended."""
        with self.db.read() as s:
            errors = s.scalar(select(TaskRow.errors).where(TaskRow.id == task_id))
        # Runs handed back were no failed attempts.
        again = job.retry and attempts - _handed_back(list(errors or [])) + 1 < MAX_ATTEMPTS
        if not again:
            self._done_with_files(job, task_id)
        now = utcnow()
        with self.db.write() as s:
            row = s.get(TaskRow, task_id, with_for_update=True)
            if row is None or row.status not in UNFINISHED:
                return again
            if again:
                note = {"message": "its worker stopped; the job runs again", "code": "retried"}
                row.status, row.current = "queued", None
            elif not job.retry:
                note = dict(INTERRUPTED_ERROR)
                row.status, row.finished_at = "interrupted", now
            else:
                note = {"message": f"its worker stopped {MAX_ATTEMPTS} times", "code": "failed"}
                row.status, row.finished_at = "failed", now
            row.errors = [*(row.errors or []), note]
            row.updated_at = now
        return again

    # -- the rest ------------------------------------------------------------------------------

    def recover(self) -> int:
        """As the thread runner's (streamed turns of dead processes end interrupted), and delete
        the files of queued jobs whose tasks are over."""
        count = super().recover()
        with contextlib.suppress(FileNotFoundError):
            folders = [p.name for p in self.jobs_dir.iterdir() if p.is_dir()]
            if folders:
                unfinished = self.unfinished(folders)
                for name in folders:
                    if name not in unfinished:
                        self._drop_files(name)
        return count

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the in-process worker (its running jobs handed back: ``hand_back``), the cancel
        watcher, and what the thread runner runs."""
        self.hand_back()
        if self._worker is not None:
            self._worker.join()
        self._watch_stop.set()
        self._watcher.join()
        if self._defer_app is not None:
            self._defer_app.close()
            self._defer_app = None
        super().shutdown(wait=wait)
