"""The PostgreSQL task runner's contract: jobs queued by one node run on another's worker; status,
progress and results read alike from every node; cancel from any node; failures recorded.

Each runner here stands for a node (its own lease, connections and cancel watcher); jobs are the
named test jobs of tests/named_jobs.py, which the worker of this process knows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from docchat.config import Settings
from docchat.db import Database
from docchat.documents.ingest import UploadedFile
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.tasks.jobs import ingest_job
from docchat.tasks.leases import Lease
from docchat.tasks.queue import JOBS_DIR, MAX_ATTEMPTS, QueueRunner
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
