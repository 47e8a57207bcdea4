"""Real processes on one PostgreSQL: ``docchat serve --no-worker`` queues, ``docchat worker`` runs.

An upload through the web node is indexed by the worker, its progress read through the web node;
a cancel sent to the web node stops the worker's job within a second; a worker SIGKILLed mid-ingest
leaves its job to a second worker, and every document is stored exactly once (rows counted); a
worker sent SIGTERM mid-ingest hands its job back and exits at once, a second worker finishes it.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from llm.chat_server import create_app as chat_server
from retrieval.openai_server import serve
from serve_process import serve_process, worker_process
from sqlalchemy import create_engine, text

from docchat.tasks.jobs import EMBEDDING

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


def test_a_web_node_queues_and_a_worker_indexes_and_stops_when_cancelled(
    tmp_path: Path, pg_url: str
) -> None:
    data_dir = tmp_path / "data"
    with (
        serve_process(data_dir, database_url=pg_url, args=["--no-worker"]) as web,
        httpx.Client(base_url=web.url, timeout=30) as client,
    ):
        first = upload(client, 2, words=300)
        time.sleep(1.0)
        assert task(client, first)["status"] == "queued"  # no worker yet: the web node runs none
        with worker_process(data_dir, database_url=pg_url, log=tmp_path / "worker.log"):
            done = poll(client, first, lambda t: t["finished_at"] is not None, timeout=120)
            assert done["status"] == "succeeded", done
            assert done["result"]["added"] == 2 and done["result"]["embedded"] > 0
            listed = client.get("/api/documents").json()["items"]
            assert sorted(d["status"] for d in listed) == ["indexed", "indexed"]

            # A long one: its progress is read through the web node while the worker runs it.
            long = upload(client, 40, words=12000)
            seen = poll(
                client,
                long,
                lambda t: t["status"] == "running" and t["processed"] >= 2 and t["current"],
                timeout=120,
            )
            assert seen["total"] == 40 and seen["current"] != EMBEDDING, seen
            asked = time.monotonic()
            response = client.post(f"/api/tasks/{long}/cancel")
            assert response.status_code == 202, response.text
            stopped = poll(client, long, lambda t: t["finished_at"] is not None, timeout=30)
            took = time.monotonic() - asked
            print(f"cancel through the web node stopped the worker's job in {took:.2f} s")
            assert stopped["status"] == "cancelled", stopped
            assert took < 1.0, f"the worker's job stopped {took:.2f} s after the cancel"
            assert stopped["processed"] < 40


def test_a_worker_killed_mid_ingest_leaves_the_job_to_another_and_nothing_twice(
    tmp_path: Path, pg_url: str
) -> None:
    data_dir = tmp_path / "data"
    count = 24
    with (
        serve_process(data_dir, database_url=pg_url, args=["--no-worker"]) as web,
        httpx.Client(base_url=web.url, timeout=30) as client,
    ):
        task_id = upload(client, count, words=5000)
        with worker_process(data_dir, database_url=pg_url, log=tmp_path / "first.log") as first:
            poll(
                client,
                task_id,
                lambda t: t["status"] == "running" and t["processed"] >= 3,
                timeout=120,
            )
            first.kill()  # SIGKILL: no clean-up of any kind
            first.wait()
            killed = time.monotonic()
        before = counts(pg_url)
        assert 3 <= before[0] < count, before  # some documents were stored, not all
        with worker_process(data_dir, database_url=pg_url, log=tmp_path / "second.log"):
            done = poll(client, task_id, lambda t: t["finished_at"] is not None, timeout=180)
        after = time.monotonic() - killed
        print(f"{before[0]} of {count} stored before the kill; all done {after:.0f} s after it")
        assert done["status"] == "succeeded", done
        assert {"message": "its worker stopped; the job runs again", "code": "retried"} in done[
            "errors"
        ]
        result = done["result"]
        assert result["added"] + result["unchanged"] == count and result["failed"] == 0, result
        docs, names, chunks, distinct = counts(pg_url)
        assert docs == names == count  # each file once
        assert chunks == distinct  # each passage once
        listed = client.get("/api/documents", params={"limit": 100}).json()["items"]
        assert len(listed) == count and {d["status"] for d in listed} == {"indexed"}
    assert not any((data_dir / "jobs").rglob("*.md"))  # the job's files went with it


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


def test_a_worker_killed_mid_chat_turn_leaves_it_interrupted_not_run_twice(
    tmp_path: Path, pg_url: str
) -> None:
    data_dir = tmp_path / "data"
    with serve(chat_server()) as model_server:
        # A model that streams a word every 20 ms for 10 s.
        slow = {"provider": "openai", "base_url": f"{model_server}/fault/slow/v1", "model": "m"}
        env = {"DOCCHAT_LLM__MODELS": json.dumps({"slow": slow})}
        with (
            serve_process(data_dir, database_url=pg_url, env=env, args=["--no-worker"]) as web,
            httpx.Client(base_url=web.url, timeout=30) as client,
        ):
            policy = b"# Cameras\n\nCCTV footage is kept for 28 days, then deleted.\n"
            with worker_process(
                data_dir, database_url=pg_url, env=env, log=tmp_path / "first.log"
            ) as first:
                ingested = client.post("/api/documents", files=[("files", ("cctv.md", policy))])
                done = poll(
                    client,
                    ingested.json()["task_id"],
                    lambda t: t["finished_at"] is not None,
                    timeout=120,
                )
                assert done["status"] == "succeeded", done
                sid = client.post("/api/sessions").json()["id"]
                accepted = client.post(
                    f"/api/sessions/{sid}/chat",
                    json={
                        "question": "How long is CCTV footage kept?",
                        "model": "slow",
                        "background": True,
                    },
                )
                assert accepted.status_code == 202, accepted.text
                turn = accepted.json()["task_id"]
                poll(client, turn, lambda t: t["status"] == "running", timeout=60)
                time.sleep(3)  # in the middle of the model's 10 s reply
                assert task(client, turn)["finished_at"] is None
                first.kill()
                first.wait()
            with worker_process(
                data_dir, database_url=pg_url, env=env, log=tmp_path / "second.log"
            ):
                ended = poll(client, turn, lambda t: t["finished_at"] is not None, timeout=90)
            # Not run a second time (its answer would be new text): ended, saying why.
            assert ended["status"] == "interrupted", ended
            assert ended["errors"][-1]["code"] == "interrupted"
            messages = client.get(f"/api/sessions/{sid}/messages").json()["items"]
            assert [m["role"] for m in messages][:1] == ["user"]
            assert [m["role"] for m in messages].count("user") == 1
            assert [m["role"] for m in messages].count("assistant") <= 1
