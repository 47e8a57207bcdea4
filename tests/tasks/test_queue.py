"""The PostgreSQL task runner's contract: jobs queued by one node run on another's worker; status,
progress and results read alike from every node; cancel from any node; failures recorded; a
stopping worker hands its jobs back; the periodic clean-up runs once per tick across the workers.

Each runner here stands for a node (its own lease, connections and cancel watcher); jobs are the
named test jobs of tests/named_jobs.py, which the worker of this process knows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import inspect, select, update

from docchat.accounts.models import ApiTokenRow, LoginRow
from docchat.config import Settings
from docchat.db import Database, utcnow
from docchat.documents.ingest import UploadedFile
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.tasks.jobs import JobParts, ingest_job, register_job
from docchat.tasks.leases import SPOOL_DIR, Lease
from docchat.tasks.models import HANDED_BACK_NOTE, INTERRUPTED_ERROR, QUEUE, UNFINISHED, TaskRow
from docchat.tasks.progress import Progress
from docchat.tasks.queue import JOBS_DIR, MAX_ATTEMPTS, QueueRunner
from docchat.tasks.runner import Job
from docchat.workspace import Workspace
from tests.named_jobs import blocking_job, failing_job, value_job
from tests.workspace_parts import parts


@pytest.fixture
def pg_workspace(tmp_path: Path, pg_url: str, minilm: MiniLMEmbedder) -> Iterator[Workspace]:
    """A workspace on a fresh PostgreSQL database (migrated: procrastinate's schema included)."""
    ws = Workspace(Settings(data_dir=tmp_path / "data", database_url=pg_url), embedder=minilm)
    yield ws
    ws.close()


class Nodes:
    """Runners on one database, each with its own lease, as separate processes would hold."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.runners: list[QueueRunner] = []

    def node(self, *, concurrency: int) -> QueueRunner:
        runner = QueueRunner(
            parts(self.workspace).db,
            Lease(self.workspace.settings.data_dir),
            jobs=parts(self.workspace).jobs,
            concurrency=concurrency,
        )
        self.runners.append(runner)
        return runner

    def close(self) -> None:
        for runner in self.runners:
            runner.shutdown()
            runner.lease.release()


@pytest.fixture
def nodes(pg_workspace: Workspace) -> Iterator[Nodes]:
    made = Nodes(pg_workspace)
    yield made
    made.close()


def test_a_job_queued_on_a_web_node_runs_on_a_worker_node(nodes: Nodes) -> None:
    web, worker = nodes.node(concurrency=0), nodes.node(concurrency=2)
    task = web.submit("other", value_job({"answer": 42}), owner="alice")
    assert task.status == "queued"
    worker.start()
    done = web.wait(task.id, owner="alice", timeout=30)
    assert done.status == "succeeded" and done.result == {"answer": 42}
    # Every node reads the same row.
    assert worker.get(task.id, owner="alice") == done
    assert [t.id for t in worker.list(owner="alice")] == [task.id]
    assert worker.list(owner="bob") == []


def test_a_queued_job_waits_for_a_worker_and_a_cancelled_one_never_runs(nodes: Nodes) -> None:
    web = nodes.node(concurrency=0)
    started, release = threading.Event(), threading.Event()
    cancelled = web.submit("other", blocking_job(started, release), owner=None)
    kept = web.submit("other", value_job("ran"), owner=None)
    time.sleep(1.5)  # no worker anywhere: nothing runs
    assert web.get(kept.id, owner=None).status == "queued"
    assert web.cancel(cancelled.id, owner=None).status == "cancelled"

    worker = nodes.node(concurrency=2)
    worker.start()
    assert web.wait(kept.id, owner=None, timeout=30).status == "succeeded"
    assert not started.is_set()
    assert web.get(cancelled.id, owner=None).status == "cancelled"


def test_progress_and_a_cancel_from_another_node_reach_a_running_job(nodes: Nodes) -> None:
    web, worker = nodes.node(concurrency=0), nodes.node(concurrency=1)
    worker.start()
    started, release = threading.Event(), threading.Event()
    task = web.submit("other", blocking_job(started, release), owner=None, total=5)
    assert started.wait(30)
    running = web.get(task.id, owner=None)
    assert running.status == "running" and running.total == 5 and running.finished_at is None

    asked = time.monotonic()
    web.cancel(task.id, owner=None)
    done = web.wait(task.id, owner=None, timeout=10)
    took = time.monotonic() - asked
    release.set()
    assert done.status == "cancelled", done
    assert took < 1.0, f"the running job stopped {took:.2f} s after the cancel"


def test_a_job_that_keeps_failing_stays_failed_with_each_reason(nodes: Nodes) -> None:
    worker = nodes.node(concurrency=1)
    task = worker.submit("other", failing_job(), owner=None)
    done = worker.wait(task.id, owner=None, timeout=60)
    assert done.status == "failed"
    assert [e["message"] for e in done.errors] == [
        f"attempt {n} of {MAX_ATTEMPTS} failed unexpectedly (see the worker's log)"
        for n in range(1, MAX_ATTEMPTS + 1)
    ]


def test_a_queued_uploads_files_outlive_the_node_that_received_them(nodes: Nodes) -> None:
    web = nodes.node(concurrency=0)
    web.lease.spool.mkdir(parents=True)
    received = web.lease.spool / "upload-0"
    received.write_bytes(b"# Garden\n\nWater the tomatoes every morning.\n")
    upload = UploadedFile(path=received, file_name="garden.md", size=received.stat().st_size)
    data_dir = nodes.workspace.settings.data_dir
    job = ingest_job([upload], data_dir=data_dir, collection="home", owner=None)
    task = web.submit("ingest", job, owner=None, total=1)
    # The web node stops before any worker runs the job: its spool goes with its lease, and
    # another node's clean-up after dead processes runs too.
    web.shutdown()
    web.lease.release()
    assert not received.exists()
    other = nodes.node(concurrency=0)
    other.recover()

    worker = nodes.node(concurrency=1)
    worker.start()
    done = worker.wait(task.id, owner=None, timeout=60)
    assert done.status == "succeeded" and done.result["added"] == 1, done
    assert [d.file_name for d in nodes.workspace.documents()] == ["garden.md"]
    assert not any((data_dir / JOBS_DIR).iterdir())  # its files went when it was done


def test_the_migration_creates_the_queue_on_postgresql_only(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        tables = set(inspect(db.engine).get_table_names())
        columns = {c["name"] for c in inspect(db.engine).get_columns("tasks")}
    finally:
        db.dispose()
    assert "cancel_requested" in columns
    queue = {"procrastinate_jobs", "procrastinate_workers", "procrastinate_events"}
    if db.engine.dialect.name == "postgresql":
        assert queue <= tables
    else:
        assert not queue & tables


def test_a_stopping_worker_hands_its_jobs_back_for_another(nodes: Nodes) -> None:
    web, first = nodes.node(concurrency=0), nodes.node(concurrency=2)
    first.start()
    started, release = threading.Event(), threading.Event()
    turn_started, turn_release = threading.Event(), threading.Event()
    job = web.submit("ingest", blocking_job(started, release), owner=None)
    # A chat turn may not run twice: it ends interrupted instead.
    turn_job = dataclasses.replace(blocking_job(turn_started, turn_release), retry=False)
    turn = web.submit("chat", turn_job, owner=None)
    assert started.wait(30) and turn_started.wait(30)

    asked = time.monotonic()
    first.shutdown()  # what SIGTERM does to `docchat worker`, and a server's close
    took = time.monotonic() - asked
    print(f"the stopping worker handed its jobs back in {took:.2f} s")
    # The jobs block for 30 s unless stopped: the worker did not wait for them.
    assert took < 15, f"shutdown took {took:.1f} s"
    handed = web.get(job.id, owner=None)
    assert handed.status == "queued" and handed.finished_at is None, handed
    assert handed.errors == [HANDED_BACK_NOTE]
    ended = web.get(turn.id, owner=None)
    assert ended.status == "interrupted" and ended.errors == [INTERRUPTED_ERROR], ended

    release.set()  # its next run returns at once
    second = nodes.node(concurrency=1)
    second.start()
    done = web.wait(job.id, owner=None, timeout=30)
    assert done.status == "succeeded" and done.result == "released", done
    assert done.errors == [HANDED_BACK_NOTE]  # not a failed attempt, no other note


#: Runs so far of each ``stops_then_fails`` job, by key, and the event its first run sets.
_RUNS: dict[str, int] = {}
_FIRST_RUN: dict[str, threading.Event] = {}


@register_job("test-stops-then-fails")
def _stops_then_fails(_parts: JobParts, job: Job, progress: Progress) -> None:
    key = job.args["key"]
    _RUNS[key] = _RUNS.get(key, 0) + 1
    if _RUNS[key] == 1:  # runs until stopped
        _FIRST_RUN[key].set()
        for _ in range(300):
            time.sleep(0.1)
            progress.check_cancelled()
    raise RuntimeError("this job fails after its first run")


def test_a_job_handed_back_keeps_all_its_attempts(nodes: Nodes) -> None:
    first = nodes.node(concurrency=1)
    first.start()
    key = str(uuid.uuid4())
    _FIRST_RUN[key] = threading.Event()
    task = first.submit("other", Job("test-stops-then-fails", {"key": key}), owner=None)
    assert _FIRST_RUN[key].wait(30)
    first.shutdown()
    assert first.get(task.id, owner=None).status == "queued"

    second = nodes.node(concurrency=1)
    second.start()
    done = second.wait(task.id, owner=None, timeout=60)
    assert done.status == "failed", done
    # Three failed attempts after the hand-back, as without it.
    assert done.errors == [
        HANDED_BACK_NOTE,
        *(
            {"message": f"attempt {n} of {MAX_ATTEMPTS} failed unexpectedly (see the worker's log)"}
            for n in range(1, MAX_ATTEMPTS + 1)
        ),
    ]
    assert _RUNS[key] == 1 + MAX_ATTEMPTS


@pytest.fixture
def ticking(
    tmp_path: Path, pg_url: str, minilm: MiniLMEmbedder
) -> Iterator[Callable[[], Workspace]]:
    """Factory: a workspace on one PostgreSQL database and data dir, as another node would open
    them, with a clean-up every second."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=pg_url, tasks={"cleanup_interval_s": 1}
    )
    opened: list[Workspace] = []

    def node() -> Workspace:
        workspace = Workspace(settings, embedder=minilm)
        opened.append(workspace)
        return workspace

    yield node
    for workspace in opened:
        workspace.close()


def runner_of(workspace: Workspace) -> QueueRunner:
    return cast(QueueRunner, parts(workspace).runner)


def test_two_workers_run_each_cleanup_tick_once(ticking: Callable[[], Workspace]) -> None:
    workers = [runner_of(ticking()), runner_of(ticking())]
    for runner in workers:
        runner.start()
    time.sleep(5)
    ticks = [tick for runner in workers for tick in runner.cleanups]
    print(f"ticks run by each worker: {[len(r.cleanups) for r in workers]}")
    assert len(ticks) >= 3, ticks  # a tick a second
    assert len(ticks) == len(set(ticks)), sorted(ticks)  # none twice


def test_the_cleanup_tick_cleans_up_after_the_whole_cluster(
    ticking: Callable[[], Workspace], abandoned_lease: Callable[[Path], str]
) -> None:
    workspace = ticking()
    data_dir = workspace.settings.data_dir
    db = parts(workspace).db
    # A chat turn streamed by a process that died (its lease abandoned, its spool left).
    dead = abandoned_lease(data_dir)
    now = utcnow()

    def row(kind: str, status: str, runner: str, task_id: str, total: int) -> TaskRow:
        made = TaskRow.new(kind, owner=None, status=status, runner=runner, total=total, at=now)
        made.id = task_id
        made.finished_at = now if status not in UNFINISHED else None
        return made

    turn = row("chat", "running", dead, str(uuid.uuid4()), total=0)
    # The job folders of a finished queued task and of a waiting one.
    finished, waiting = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [turn]
    for task_id, status in ((finished, "succeeded"), (waiting, "queued")):
        rows.append(row("ingest", status, QUEUE, task_id, total=1))
        folder = data_dir / JOBS_DIR / task_id
        folder.mkdir(parents=True)
        (folder / "0-notes.md").write_bytes(b"# Notes\n")
    with db.write() as s:
        s.add_all(rows)
    # A loose upload of a docchat before leases, two days old, and a fresh one.
    stale, fresh = data_dir / SPOOL_DIR / "upload-stale", data_dir / SPOOL_DIR / "upload-fresh"
    for path in (stale, fresh):
        path.write_bytes(b"received")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    # A login ended two days ago and a live one; a token expired 31 days ago and a live one.
    alice = workspace.accounts.create_user("alice", "correct horse battery")
    ended = workspace.accounts.open_login(alice.id, address="10.0.0.1")
    live = workspace.accounts.open_login(alice.id, address="10.0.0.1")
    expired = workspace.accounts.create_token(alice.id, "old")
    kept = workspace.accounts.create_token(alice.id, "new")
    with db.write() as s:
        s.execute(
            update(LoginRow)
            .where(LoginRow.csrf_token == ended.csrf_token)
            .values(expires_at=utcnow() - dt.timedelta(days=2))
        )
        s.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == expired.info.id)
            .values(expires_at=utcnow() - dt.timedelta(days=31))
        )

    runner = runner_of(workspace)
    runner.start()  # its worker runs the next tick
    deadline = time.monotonic() + 30
    while not runner.cleanups:
        assert time.monotonic() < deadline, "no clean-up ran"
        time.sleep(0.1)

    interrupted = workspace.task(turn.id)
    assert interrupted.status == "interrupted" and interrupted.errors == [INTERRUPTED_ERROR]
    assert not (data_dir / SPOOL_DIR / dead).exists()  # the dead process's spool
    assert not (data_dir / JOBS_DIR / finished).exists()
    assert (data_dir / JOBS_DIR / waiting / "0-notes.md").exists()
    assert not stale.exists() and fresh.exists()
    with db.read() as s:
        logins = set(s.scalars(select(LoginRow.csrf_token)))
        tokens = set(s.scalars(select(ApiTokenRow.id)))
    assert logins == {live.csrf_token}
    assert tokens == {kept.info.id}
