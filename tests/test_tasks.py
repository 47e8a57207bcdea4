"""Background tasks: a task whose process died ends as interrupted, written down, at once; a task
can be cancelled, queued or running."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from docchat.config import Settings
from docchat.db import Database, utcnow
from docchat.errors import Conflict, TaskNotFound
from docchat.tasks import HEARTBEAT_TIMEOUT, INTERRUPTED_ERROR, Progress, TaskRow, ThreadRunner
from docchat.tasks.leases import Lease

LONG_AGO = dt.timedelta(minutes=10)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """A fresh, migrated database of the backend under test."""
    database = Database.from_settings(settings)
    yield database
    database.dispose()


@pytest.fixture
def runner(db: Database, settings: Settings) -> Iterator[ThreadRunner]:
    """A task runner holding its own lease on the data dir."""
    lease = Lease(settings.data_dir)
    tasks = ThreadRunner(db, lease)
    yield tasks
    tasks.shutdown(wait=False)
    lease.release()


def add_task(
    db: Database, *, runner: str | None, status: str = "running", silent_for: dt.timedelta
) -> str:
    """A task row as some process left it, last written ``silent_for`` ago."""
    then = utcnow() - silent_for
    row = TaskRow.new("ingest", owner=None, status=status, runner=runner, total=10, at=then)
    row.created_at = then - dt.timedelta(seconds=1)
    if status == "running":
        row.processed, row.current = 3, "notes.md"
        row.errors = [{"file": "scan.pdf", "reason": "unreadable"}]
    if status == "succeeded":
        row.finished_at = then
    with db.write() as s:
        s.add(row)
    return row.id


def test_recover_interrupts_the_tasks_of_dead_processes_only(
    db: Database,
    runner: ThreadRunner,
    settings: Settings,
    abandoned_lease: Callable[[Path], str],
) -> None:
    dead = abandoned_lease(settings.data_dir)
    live = Lease(settings.data_dir)  # another server process, alive
    elsewhere = str(uuid.uuid4())  # a process on another host: no lock file here
    second = dt.timedelta(seconds=1)
    tasks = {
        "dead running": add_task(db, runner=dead, silent_for=second),
        "dead queued": add_task(db, runner=dead, status="queued", silent_for=second),
        "dead finished": add_task(db, runner=dead, status="succeeded", silent_for=second),
        "live running": add_task(db, runner=live.id, silent_for=second),
        # A live process's task may go quiet (a slow database); it is still running.
        "live silent": add_task(db, runner=live.id, silent_for=LONG_AGO),
        "elsewhere fresh": add_task(db, runner=elsewhere, silent_for=second),
        "elsewhere silent": add_task(db, runner=elsewhere, silent_for=LONG_AGO),
        "elsewhere queued": add_task(db, runner=elsewhere, status="queued", silent_for=LONG_AGO),
        "before leases": add_task(db, runner=None, silent_for=HEARTBEAT_TIMEOUT + second),
    }
    started = utcnow()

    assert runner.recover() == 5
    status = {name: runner.get(task_id, owner=None) for name, task_id in tasks.items()}
    interrupted = {name for name, info in status.items() if info.status == "interrupted"}
    assert interrupted == {
        "dead running",
        "dead queued",
        "elsewhere silent",
        "elsewhere queued",
        "before leases",
    }
    for name in interrupted:
        info = status[name]
        assert info.finished_at is not None and info.finished_at >= started
        assert info.errors[-1] == INTERRUPTED_ERROR
    # What the task had done and said is kept.
    assert status["dead running"].processed == 3
    assert status["dead running"].errors[0] == {"file": "scan.pdf", "reason": "unreadable"}
    assert status["dead finished"].status == "succeeded"
    for name in ("live running", "live silent", "elsewhere fresh"):
        assert status[name].status == "running" and status[name].finished_at is None
    # The dead process's lease and uploads are gone; the live one's lease stays.
    assert not (settings.data_dir / "uploads" / dead).exists()
    assert runner.lease.state(dead) == "unknown"
    assert runner.lease.state(live.id) == "live"

    assert runner.recover() == 0  # nothing is interrupted twice
    assert runner.get(tasks["dead running"], owner=None).errors.count(INTERRUPTED_ERROR) == 1
    live.release()


def test_the_thread_runner_cleans_up_on_a_timer(
    db: Database, settings: Settings, abandoned_lease: Callable[[Path], str]
) -> None:
    housekept = threading.Event()
    lease = Lease(settings.data_dir)
    tasks = ThreadRunner(
        db, lease, housekeeping=lambda: housekept.set() or {}, cleanup_interval_s=0.5
    )
    try:
        # Left by a process that died after this one started: no start-up clean-up sees it.
        dead = abandoned_lease(settings.data_dir)
        task_id = add_task(db, runner=dead, silent_for=dt.timedelta(seconds=1))
        assert housekept.wait(10), "the housekeeping never ran"
        deadline = time.monotonic() + 10
        while tasks.get(task_id, owner=None).status != "interrupted":
            assert time.monotonic() < deadline, "the timer's clean-up never ended the task"
            time.sleep(0.05)
        assert not (settings.data_dir / "uploads" / dead).exists()
    finally:
        tasks.shutdown()
        lease.release()


def test_a_queued_task_is_kept_alive_by_the_heartbeat(db: Database, settings: Settings) -> None:
    lease = Lease(settings.data_dir)
    tasks = ThreadRunner(db, lease, workers=1)
    release = threading.Event()

    def blocker(_progress: Progress) -> str:
        release.wait(30)
        return "done"

    try:
        first = tasks.submit("ingest", blocker, owner=None)
        queued = tasks.submit("ingest", lambda _progress: "second", owner=None)
        # Both rows look long silent, as they would behind a long task without the heartbeat.
        with db.write() as s:
            for task_id in (first.id, queued.id):
                row = s.get(TaskRow, task_id)
                assert row is not None
                row.updated_at = utcnow() - LONG_AGO
        before = utcnow()
        tasks._beat()
        info = tasks.get(queued.id, owner=None)
        assert info.status == "queued" and info.updated_at >= before
        assert tasks.get(first.id, owner=None).status == "running"
        # Another process sees both alive too.
        other = ThreadRunner(db, Lease(settings.data_dir))
        assert other.recover() == 0
        other.shutdown()
        other.lease.release()
    finally:
        release.set()
    assert tasks.wait(queued.id, owner=None).status == "succeeded"
    tasks.shutdown()
    lease.release()


def test_shutdown_without_waiting_interrupts_queued_tasks(db: Database, settings: Settings) -> None:
    lease = Lease(settings.data_dir)
    tasks = ThreadRunner(db, lease, workers=1)
    started, release = threading.Event(), threading.Event()

    def blocker(_progress: Progress) -> None:
        started.set()
        release.wait(30)

    running = tasks.submit("ingest", blocker, owner=None)
    queued = tasks.submit("ingest", lambda _progress: None, owner=None)
    assert started.wait(30)
    tasks.shutdown(wait=False)
    info = tasks.get(queued.id, owner=None)
    assert info.status == "interrupted" and info.finished_at is not None
    assert info.errors == [INTERRUPTED_ERROR]
    release.set()
    assert tasks.wait(running.id, owner=None).status == "succeeded"
    lease.release()


def test_a_task_row_names_its_runner(runner: ThreadRunner, db: Database) -> None:
    info = runner.submit("ingest", lambda _progress: 42, owner=None)
    assert runner.wait(info.id, owner=None).status == "succeeded"
    with db.read() as s:
        row = s.get(TaskRow, info.id)
        assert row is not None and row.runner == runner.lease.id


def _blocker(started: threading.Event, release: threading.Event) -> Callable[[Progress], str]:
    def block(_progress: Progress) -> str:
        started.set()
        release.wait(30)
        return "done"

    return block


def test_a_queued_task_cancelled_never_runs(db: Database, settings: Settings) -> None:
    lease = Lease(settings.data_dir)
    tasks = ThreadRunner(db, lease, workers=1)
    started, release = threading.Event(), threading.Event()
    ran, skipped = threading.Event(), threading.Event()
    try:
        busy = tasks.submit("ingest", _blocker(started, release), owner="alice")
        queued = tasks.submit("ingest", lambda _p: ran.set(), owner="alice", on_skipped=skipped.set)
        assert started.wait(30)
        before = utcnow()
        info = tasks.cancel(queued.id, owner="alice")
        assert info.status == "cancelled"
        assert info.finished_at is not None and info.finished_at >= before
        release.set()
        assert tasks.wait(busy.id, owner=None).status == "succeeded"
        assert skipped.wait(30)  # its turn came, and it was skipped
        assert not ran.is_set()
        assert tasks.get(queued.id, owner=None).status == "cancelled"
        with pytest.raises(Conflict, match="already finished"):
            tasks.cancel(queued.id, owner="alice")
    finally:
        release.set()
        tasks.shutdown()
        lease.release()


def test_a_running_task_stops_at_its_next_check(runner: ThreadRunner) -> None:
    started = threading.Event()
    steps: list[int] = []

    def job(progress: Progress) -> str:
        for step in range(1000):
            progress.check_cancelled()
            steps.append(step)
            progress.update(processed=step)
            if step == 0:
                started.set()
            time.sleep(0.01)
        return "finished"

    info = runner.submit("ingest", job, owner=None)
    assert started.wait(30)
    assert runner.cancel(info.id, owner=None).status == "running"  # asked, not yet stopped
    final = runner.wait(info.id, owner=None)
    assert final.status == "cancelled" and final.finished_at is not None
    assert len(steps) < 1000
    assert final.result is None and final.errors == []
    assert final.processed == steps[-1]  # what it had done is kept


def test_cancel_refuses_unknown_foreign_and_finished_tasks(runner: ThreadRunner) -> None:
    info = runner.submit("ingest", lambda _p: 1, owner="alice")
    with pytest.raises(TaskNotFound):
        runner.cancel(info.id, owner="bob")
    with pytest.raises(TaskNotFound):
        runner.cancel(str(uuid.uuid4()), owner=None)
    with pytest.raises(TaskNotFound):
        runner.cancel("not a task id", owner=None)
    assert runner.wait(info.id, owner=None).status == "succeeded"
    with pytest.raises(Conflict, match="already finished"):
        runner.cancel(info.id, owner="alice")


def test_cancel_across_processes(db: Database, settings: Settings) -> None:
    """Another process can cancel a queued task (it never runs), not a running one."""
    lease, other_lease = Lease(settings.data_dir), Lease(settings.data_dir)
    tasks = ThreadRunner(db, lease, workers=1)
    other = ThreadRunner(db, other_lease)
    started, release, ran = threading.Event(), threading.Event(), threading.Event()
    try:
        busy = tasks.submit("ingest", _blocker(started, release), owner=None)
        queued = tasks.submit("ingest", lambda _p: ran.set(), owner=None)
        assert started.wait(30)
        with pytest.raises(Conflict, match="another docchat process"):
            other.cancel(busy.id, owner=None)
        assert other.cancel(queued.id, owner=None).status == "cancelled"
        release.set()
        assert tasks.wait(busy.id, owner=None).status == "succeeded"
        tasks.shutdown()  # the queued one had its turn before the pool stopped
        assert not ran.is_set()
        assert tasks.get(queued.id, owner=None).status == "cancelled"
    finally:
        release.set()
        tasks.shutdown()
        other.shutdown()
        lease.release()
        other_lease.release()
