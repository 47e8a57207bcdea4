"""Real processes on one PostgreSQL: ``docchat serve --no-worker`` queues, ``docchat worker`` runs.

A worker sent SIGTERM mid-ingest hands its job back and exits at once, a second worker finishes
it, and every document is stored exactly once (rows counted).  Cancels across nodes and workers
SIGKILLed mid-ingest and mid-chat are in tests/cluster/test_cluster.py.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_process import serve_process, worker_process
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.slow

TEXT = (
    "the tenant shall keep the balcony clean and water the plants every evening in summer while "
    "the landlord repairs the heating before winter and answers letters within fourteen days"
)
WORDS = re.findall(r"\w+", TEXT)


def document(n: int, *, words: int) -> bytes:
    """A text file of ``words`` words, different for each ``n``."""
    body = " ".join(WORDS[(i * 7 + n) % len(WORDS)] for i in range(words))
    sentences = [body[i : i + 300] + "." for i in range(0, len(body), 300)]
    return (f"# Lease {n}\n\n" + "\n\n".join(sentences) + "\n").encode()


def upload(client: httpx.Client, count: int, *, words: int) -> str:
    files = [("files", (f"lease-{n}.md", document(n, words=words))) for n in range(count)]
    response = client.post("/api/documents", files=files)
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


def task(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"/api/tasks/{task_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def poll(
    client: httpx.Client, task_id: str, done: Callable[[dict[str, Any]], bool], *, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = task(client, task_id)
        if done(state):
            return state
        assert time.monotonic() < deadline, f"after {timeout:.0f} s: {state}"
        time.sleep(0.05)


def counts(database_url: str) -> tuple[int, int, int, int]:
    """Documents, distinct file names, chunks, distinct (content, position) of chunks."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            docs, names = conn.execute(
                text("SELECT count(*), count(DISTINCT file_name) FROM documents")
            ).one()
            chunks, distinct = conn.execute(
                text("SELECT count(*), count(DISTINCT (sha256, ordinal)) FROM chunks")
            ).one()
    finally:
        engine.dispose()
    return docs, names, chunks, distinct


def test_a_worker_sent_sigterm_hands_its_job_back_to_another_and_nothing_twice(
    tmp_path: Path, pg_url: str
) -> None:
    data_dir = tmp_path / "data"
    count = 10
    with (
        serve_process(data_dir, database_url=pg_url, args=["--no-worker"]) as web,
        httpx.Client(base_url=web.url, timeout=30) as client,
    ):
        task_id = upload(client, count, words=2000)
        with worker_process(data_dir, database_url=pg_url, log=tmp_path / "first.log") as first:
            poll(
                client,
                task_id,
                lambda t: t["status"] == "running" and t["processed"] >= 2,
                timeout=120,
            )
            asked = time.monotonic()
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=60) == 0
            took = time.monotonic() - asked
        handed = task(client, task_id)
        print(
            f"{handed['processed']} of {count} read when the worker exited, {took:.2f} s after "
            "SIGTERM"
        )
        # Not finished first: back in the queue, saying why.
        assert handed["status"] == "queued" and handed["finished_at"] is None, handed
        assert handed["errors"][-1]["code"] == "handed_back", handed
        assert counts(pg_url)[0] >= 2  # what it stored stays (and is not stored again)
        with worker_process(data_dir, database_url=pg_url, log=tmp_path / "second.log"):
            done = poll(client, task_id, lambda t: t["finished_at"] is not None, timeout=180)
        assert done["status"] == "succeeded", done
        assert [e["code"] for e in done["errors"]] == ["handed_back"]
        result = done["result"]
        assert result["added"] + result["unchanged"] == count and result["failed"] == 0, result
        docs, names, chunks, distinct = counts(pg_url)
        assert docs == names == count  # each file once
        assert chunks == distinct  # each passage once
    assert not any((data_dir / "jobs").rglob("*.md"))  # the job's files went with it
