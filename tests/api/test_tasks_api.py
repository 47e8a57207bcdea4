"""Cancelling a background task over HTTP: 202 with the task, 404 unknown, 409 once finished."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from docchat.config import Settings
from docchat.workspace import Workspace
from tests.named_jobs import blocking_job
from tests.workspace_parts import parts

from .conftest import ExpectError, MakeApp
from .test_documents_api import NOTES_MD, ingest, leftovers, upload, wait_for_task

StartServer = Callable[..., httpx.Client]


@pytest.fixture
def busy_server(
    api_settings: Settings, make_app: MakeApp, start_server: StartServer
) -> Iterator[tuple[httpx.Client, threading.Event]]:
    """A server whose task workers are all busy until the event is set."""
    app = make_app(api_settings)
    client = start_server(api_settings, app)
    workspace: Workspace = app.state.workspace
    release = threading.Event()
    for _ in range(2):
        started = threading.Event()
        parts(workspace).runner.submit("other", blocking_job(started, release), owner=None)
        assert started.wait(30)
    try:
        yield client, release
    finally:
        release.set()


def test_cancel_a_queued_upload(
    busy_server: tuple[httpx.Client, threading.Event], api_settings: Settings
) -> None:
    client, release = busy_server
    accepted = upload(client, [("notes.md", NOTES_MD)])
    assert accepted.status_code == 202, accepted.text
    task_id = accepted.json()["task_id"]
    assert client.get(f"/api/tasks/{task_id}").json()["status"] == "queued"

    response = client.post(f"/api/tasks/{task_id}/cancel")
    assert response.status_code == 202, response.text
    task = response.json()
    assert task["id"] == task_id and task["status"] == "cancelled"
    assert task["finished_at"] is not None

    release.set()
    deadline = time.monotonic() + 30
    while leftovers(api_settings):  # deleted when its turn comes and it is skipped
        assert time.monotonic() < deadline, leftovers(api_settings)
        time.sleep(0.05)
    assert wait_for_task(client, task_id)["status"] == "cancelled"
    assert client.get("/api/documents").json()["items"] == []


def test_cancel_unknown_or_finished_tasks(client: httpx.Client, expect_error: ExpectError) -> None:
    expect_error(client.post(f"/api/tasks/{uuid.uuid4()}/cancel"), 404, "task_not_found")
    expect_error(client.post("/api/tasks/not-a-task/cancel"), 404, "task_not_found")
    task = ingest(client, [("notes.md", NOTES_MD)])
    error = expect_error(client.post(f"/api/tasks/{task['id']}/cancel"), 409, "conflict")
    assert "already finished" in error["message"]
    assert client.get(f"/api/tasks/{task['id']}").json()["status"] == "succeeded"
