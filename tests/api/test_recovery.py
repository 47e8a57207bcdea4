"""A server that died: the next one to start deletes its uploads and ends its tasks, at once (on
PostgreSQL its queued jobs run again on a live worker instead: docchat.tasks.queue)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_process import ServeProcess, serve_process

from docchat.config import Settings
from docchat.db import Database, utcnow
from docchat.tasks import INTERRUPTED_ERROR, TaskRow
from docchat.tasks.leases import RUN_DIR, SPOOL_DIR, Lease
from docchat.tasks.queue import JOBS_DIR

from .conftest import MakeApp, live_server
from .test_documents_api import leftovers, upload

StartServer = Callable[..., httpx.Client]
AbandonLease = Callable[[Path], str]


def add_task(settings: Settings, *, runner: str, status: str) -> str:
    """A task row as a server process left it a moment ago."""
    now = utcnow()
    row = TaskRow.new("ingest", owner=None, status=status, runner=runner, total=1000)
    row.created_at, row.updated_at = now - dt.timedelta(seconds=30), now - dt.timedelta(seconds=1)
    if status == "running":
        row.processed, row.current = 211, "file-211.txt"
    db = Database.from_settings(settings)
    try:
        with db.write() as s:
            s.add(row)
    finally:
        db.dispose()
    return row.id


def assert_interrupted(task: dict[str, Any]) -> None:
    """The task ended because its server stopped, and says so."""
    assert task["status"] == "interrupted", task
    assert task["finished_at"] is not None
    assert task["errors"][-1] == INTERRUPTED_ERROR


def test_startup_cleans_up_after_dead_processes_only(
    api_settings: Settings, start_server: StartServer, abandoned_lease: AbandonLease
) -> None:
    data_dir = api_settings.data_dir
    dead = abandoned_lease(data_dir)
    partial = data_dir / SPOOL_DIR / dead / "upload-streaming"
    partial.write_bytes(b"p" * 2_000_000)  # a streamed upload cut off by the kill
    dead_running = add_task(api_settings, runner=dead, status="running")
    dead_queued = add_task(api_settings, runner=dead, status="queued")
    # Another server process on the same data dir, alive, in the middle of its own work.
    live = Lease(data_dir)
    try:
        live.spool.mkdir(parents=True)
        (live.spool / "upload-receiving").write_bytes(b"arriving")
        live_running = add_task(api_settings, runner=live.id, status="running")

        client = start_server(api_settings)
        # No heartbeat timeout to wait for: right after start-up.
        assert_interrupted(client.get(f"/api/tasks/{dead_running}").json())
        assert_interrupted(client.get(f"/api/tasks/{dead_queued}").json())
        still = client.get(f"/api/tasks/{live_running}").json()
        assert still["status"] == "running" and still["finished_at"] is None
        assert leftovers(api_settings) == [live.spool / "upload-receiving"]
        assert not (data_dir / RUN_DIR / f"{dead}.lock").exists()
    finally:
        live.release()


def test_a_clean_shutdown_leaves_nothing(api_settings: Settings, make_app: MakeApp) -> None:
    with live_server(make_app(api_settings)) as client:
        accepted = upload(client, [("notes.md", b"# Notes\n\nWater the tomatoes.\n")]).json()
        while client.get(accepted["status_url"]).json()["finished_at"] is None:
            time.sleep(0.05)
        assert len(list((api_settings.data_dir / RUN_DIR).iterdir())) == 1  # the server's lease
    assert list((api_settings.data_dir / RUN_DIR).iterdir()) == []
    assert list((api_settings.data_dir / SPOOL_DIR).iterdir()) == []


def _sizes(settings: Settings) -> list[int]:
    """Sizes of the files under the uploads folder and the queued jobs' (while a server deletes
    some)."""
    sizes = []
    folders = (settings.data_dir / SPOOL_DIR, settings.data_dir / JOBS_DIR)
    for path in (p for folder in folders for p in folder.rglob("*")):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file():
                sizes.append(path.stat().st_size)
    return sizes


@pytest.fixture
def server_process(api_settings: Settings) -> Iterator[ServeProcess]:
    """``docchat serve`` in its own process on the settings' data dir and database."""
    with serve_process(
        api_settings.data_dir,
        database_url=api_settings.effective_database_url.get_secret_value(),
    ) as server:
        yield server


def _stalled_upload(url: str, stop: threading.Event) -> None:
    """Send the first megabyte of a file, then nothing until ``stop``."""
    boundary = "stalled-upload"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            'filename="big.txt"\r\n\r\n'
        ).encode()
        for _ in range(16):
            yield b"x" * 65_536
        stop.wait(120)

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    with contextlib.suppress(httpx.TransportError):  # the server is killed under it
        httpx.post(f"{url}/api/documents", content=body(), headers=headers, timeout=120)


@pytest.mark.slow
def test_killed_server_leaves_nothing_behind_after_restart(
    api_settings: Settings,
    server_process: ServeProcess,
    start_server: StartServer,
    backend: str,
) -> None:
    process, url = server_process.process, server_process.url
    files = [
        (f"file-{i}.txt", f"Note {i}: water plot {i} every {i % 7 + 1} days.\n".encode() * 20)
        # Enough that the batch still runs when the server is killed, few enough that its re-run
        # on PostgreSQL is short (1,000 files took two minutes of the suite).
        for i in range(300)
    ]
    parts = [("files", (name, content)) for name, content in files]
    stop = threading.Event()
    stalled = threading.Thread(target=_stalled_upload, args=(url, stop), daemon=True)
    stalled.start()
    try:
        # The stalled upload has its megabyte first: waiting for it while the batch ran let a
        # quiet machine finish the batch before the kill.
        deadline = time.monotonic() + 60
        while 2**20 not in (sizes := _sizes(api_settings)):
            assert time.monotonic() < deadline, sorted(sizes)[-3:]
            time.sleep(0.02)
        accepted = httpx.post(f"{url}/api/documents", files=parts, timeout=60)
        assert accepted.status_code == 202, accepted.text
        task_id = accepted.json()["task_id"]
        while True:  # the batch is being ingested
            task = httpx.get(f"{url}/api/tasks/{task_id}").json()
            assert task["finished_at"] is None, "the batch finished before the kill"
            if task["status"] == "running" and task["processed"] > 0:
                break
            assert time.monotonic() < deadline, task
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        stop.set()
        stalled.join(30)
    left = _sizes(api_settings)
    assert len(left) > 1 and 2**20 in left

    client = start_server(api_settings)
    if backend == "postgresql":
        # The job is in the queue: the new server's worker runs it again once the dead one's
        # heartbeat is stale (docchat.tasks.queue); its files wait for it until then.
        deadline = time.monotonic() + 240
        while (task := client.get(f"/api/tasks/{task_id}").json())["finished_at"] is None:
            assert time.monotonic() < deadline, task
            time.sleep(0.2)
        assert task["status"] == "succeeded", task
        assert task["result"]["added"] + task["result"]["unchanged"] == len(files)
    else:
        assert_interrupted(client.get(f"/api/tasks/{task_id}").json())
    assert leftovers(api_settings) == []
    assert len(list((api_settings.data_dir / RUN_DIR).iterdir())) == 1  # the new server's
    again = upload(client, [("notes.md", b"# Notes\n\nWater the tomatoes.\n")]).json()
    while (task := client.get(again["status_url"]).json())["finished_at"] is None:
        time.sleep(0.05)
    assert task["status"] == "succeeded"
    assert leftovers(api_settings) == []
