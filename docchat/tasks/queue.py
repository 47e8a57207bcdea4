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

A worker killed mid-job (SIGKILL, a lost machine) stops sending procrastinate's heartbeat; after
``STALLED_AFTER_S`` any live worker finds its job stalled and queues it again, up to
``MAX_ATTEMPTS`` runs in all (its steps are idempotent: an ingest finds what was stored
unchanged).  A job that may not run twice (a chat turn) ends ``interrupted`` instead, its partial
answer kept.  A job that fails unexpectedly is retried the same way; after ``MAX_ATTEMPTS`` it
stays ``failed`` with the reason of each attempt.

Procrastinate's tables are created by our migration 0011, once, never by a node at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from docchat.db import Database, utcnow
from docchat.errors import Cancelled, Conflict, DocchatError
from docchat.tasks.leases import Lease
from docchat.tasks.models import INTERRUPTED_ERROR, QUEUE, UNFINISHED, TaskInfo, TaskRow, task_info
from docchat.tasks.progress import Progress
from docchat.tasks.runner import AfterRecover, Job, JobHandler
from docchat.tasks.threads import ThreadRunner, _stopped

log = logging.getLogger(__name__)

#: procrastinate's name for our one task: run a ``Job``.
TASK_NAME = "docchat.job"
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
    """Raised to procrastinate to run the job again (its only retried exception)."""


class QueueRunner(ThreadRunner):
    """Queues tasks' jobs in PostgreSQL; runs them in workers of this or other processes.

    It is a ``ThreadRunner`` for what stays in the process: chat turns streamed here (``track``),
    the heartbeats of its running tasks and ``recover``.  ``concurrency`` is how many jobs the
    in-process worker runs at once (started by ``start`` or the first ``submit``); 0 for a web
    node that only queues them.
    """

    def __init__(
        self,
        db: Database,
        lease: Lease,
        *,
        jobs: JobHandler,
        after_recover: AfterRecover | None = None,
        concurrency: int = 2,
    ) -> None:
        super().__init__(db, lease, workers=1, after_recover=after_recover, jobs=jobs)
        self._handler = jobs
        self._concurrency = concurrency
        url = db.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._defer_app: Any = None
        self._worker: threading.Thread | None = None
        self._worker_loop: asyncio.AbstractEventLoop | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._watch_stop = threading.Event()
        self._watcher = threading.Thread(
            target=self._watch_cancels, daemon=True, name="docchat-cancels"
        )
        self._watcher.start()

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
        now = utcnow()
        with self.db.write() as s:
            cancelled = s.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id, TaskRow.status == "queued")
                .values(status="cancelled", updated_at=now, finished_at=now)
            )
            if not cancelled.rowcount:  # type: ignore[attr-defined]
                s.execute(
                    update(TaskRow)
                    .where(TaskRow.id == task_id, TaskRow.status.in_(UNFINISHED))
                    .values(cancel_requested=True)
                )
        if cancelled.rowcount:  # type: ignore[attr-defined]
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
        """Run a worker in the foreground until SIGINT or SIGTERM (``docchat worker``); its
        running jobs finish first."""
        asyncio.run(self._work(concurrency, signals=True))

    @property
    def shared(self) -> bool:
        """True: jobs go through the PostgreSQL queue, for any worker."""
        return True

    async def _work(
        self, concurrency: int, *, signals: bool, ready: threading.Event | None = None
    ) -> None:
        import procrastinate

        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=self._conninfo,
                min_size=1,
                max_size=concurrency + 2,
                timeout=POOL_TIMEOUT_S,
            )
        )
        app.task(
            name=TASK_NAME,
            pass_context=True,
            retry=procrastinate.RetryStrategy(
                max_attempts=MAX_ATTEMPTS - 1, wait=1, retry_exceptions={_Retry}
            ),
        )(self._perform)
        async with app.open_async():
            stalls = asyncio.create_task(self._requeue_stalled(app))
            if ready is not None:
                ready.set()
            try:
                await app.run_worker_async(
                    concurrency=concurrency,
                    name=f"docchat-{self.lease.id[:8]}",
                    install_signal_handlers=signals,
                    update_heartbeat_interval=HEARTBEAT_INTERVAL_S,
                    stalled_worker_timeout=STALLED_AFTER_S,
                    fetch_job_polling_interval=1.0,
                    # The task's row keeps what happened; the queue keeps only failed jobs.
                    delete_jobs="successful",
                )
            finally:
                stalls.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stalls

    def _perform(self, context: Any, task_id: str, job: dict[str, Any]) -> None:
        """procrastinate's task: run one job, in a thread of the worker."""
        named = Job.from_json(job)
        attempt = int(context.job.attempts)
        progress = Progress(self.db, task_id)
        with self._lock:
            self._progress[task_id] = progress
        try:
            claimed = self._claim_queued(task_id)
            if claimed is None:  # cancelled while it waited: it never runs
                self._done_with_files(named, task_id)
                return
            # An earlier attempt's errors stay with the task.
            progress.total, progress.errors = claimed
            result = self._handler.run(named, progress)
        except Cancelled:
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
                    task_name=TASK_NAME, seconds_since_heartbeat=STALLED_AFTER_S
                )
                for found in stalled:
                    task_id = found.task_kwargs["task_id"]
                    job = Job.from_json(found.task_kwargs["job"])
                    again = job.retry and found.attempts + 1 < MAX_ATTEMPTS
                    # The row first: a worker that takes the job again finds it queued.
                    await asyncio.to_thread(self._after_stall, task_id, job, again)
                    if again:
                        await app.job_manager.retry_job(found)
                    else:
                        await app.job_manager.finish_job(found, Status.FAILED, delete_job=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # another worker requeued it first, or the database hiccupped
                log.warning("requeueing stalled jobs failed", exc_info=True)

    def _after_stall(self, task_id: str, job: Job, again: bool) -> None:
        """Record on the task's row that its worker stopped: queued again, or ended."""
        if not again:
            self._done_with_files(job, task_id)
        now = utcnow()
        with self.db.write() as s:
            row = s.get(TaskRow, task_id, with_for_update=True)
            if row is None or row.status not in UNFINISHED:
                return
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
        """Stop the in-process worker (its running jobs finish first), the cancel watcher, and
        what the thread runner runs."""
        self._accepting = False
        loop, task = self._worker_loop, self._worker_task
        if loop is not None and task is not None:
            # procrastinate stops taking jobs and waits for the running ones.
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(task.cancel)
        if self._worker is not None:
            self._worker.join()
        self._watch_stop.set()
        self._watcher.join()
        if self._defer_app is not None:
            self._defer_app.close()
            self._defer_app = None
        super().shutdown(wait=wait)
