"""A cluster on one machine: 3 ``docchat serve --no-worker`` + 2 ``docchat worker`` processes on one
PostgreSQL, one S3-compatible server (moto's) and one shared data dir, as issue 16 deploys it.

One test, in steps, because the steps share the cluster and pytest-xdist may hand the tests of a
module to different workers (each would start a cluster of its own):

1. a batch of real documents (Markdown, text, PDF, Word) uploaded through node 1, its progress
   read through node 2 while a worker runs it; the originals land in the bucket, not in files/;
2. chat turns posted at once to all three nodes: each acknowledged message is there once;
3. a worker SIGKILLed while it runs an ingest and a background chat turn: the other worker runs
   the ingest again (every document once, no passage twice) and ends the turn ``interrupted``
   with its partial answer;
4. a third ingest cancelled through node 3 while the other worker runs it (last, because the
   next ingest would embed what the cancelled one left without vectors);
5. a web node SIGKILLed while it streams an answer: the others keep serving, and mark the turn
   and its answer interrupted.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docx
import httpx
import pytest
from llm.chat_server import create_app as chat_server
from retrieval.openai_server import free_port, serve
from s3_server import new_bucket, object_keys
from sample_pdf import write_pdf
from serve_process import START_TIMEOUT_S
from sqlalchemy import create_engine, text

from docchat.tasks.queue import HEARTBEAT_INTERVAL_S, STALLED_AFTER_S

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent.parent / "data"
WEB_NODES, WORKERS = 3, 2
#: A streaming answer's text is saved this often (1 s by default): a killed node keeps more.
SAVE_INTERVAL_S = 0.2

WORDS = re.findall(
    r"\w+",
    "the tenant shall keep the balcony clean and water the plants every evening in summer while "
    "the landlord repairs the heating before winter and answers letters within fourteen days",
)


def generated(name: str, n: int, *, words: int) -> tuple[str, bytes]:
    """A Markdown file of ``words`` words, different for each ``name`` and ``n``."""
    body = " ".join(WORDS[(i * 7 + n + len(name)) % len(WORDS)] for i in range(words))
    sentences = [body[i : i + 300] + "." for i in range(0, len(body), 300)]
    return f"{name}-{n}.md", (f"# {name} {n}\n\n" + "\n\n".join(sentences) + "\n").encode()


def library(folder: Path) -> list[tuple[str, bytes]]:
    """The handbook and the real manuals of tests/data, a PDF and a Word document."""
    paths = sorted((DATA / "handbook").iterdir()) + sorted((DATA / "real").glob("*.txt"))
    files = [(p.name, p.read_bytes()) for p in paths]
    files.append(("zebra.pdf", write_pdf(folder / "zebra.pdf").read_bytes()))
    word = docx.Document()
    word.add_heading("Parking", level=1)
    word.add_paragraph("Visitors park on level minus two; staff badges open the east gate.")
    out = io.BytesIO()
    word.save(out)
    files.append(("parking.docx", out.getvalue()))
    return files


@dataclass
class Cluster:
    """The running processes, and what they share."""

    database_url: str
    data_dir: Path
    endpoint: str
    bucket: str
    prefix: str
    env: dict[str, str]
    logs: Path
    web: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-c", "from docchat.cli import app; app()", *args]
        with open(self.logs / f"{name}.log", "ab") as log:
            return subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def sql(self, query: str, **params: object) -> list[Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(query), params).all())
        finally:
            engine.dispose()


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str, s3_endpoint: str, slow_model: str) -> Iterator[Cluster]:
    """The processes, started at once, ready (web nodes answer /readyz, workers registered)."""
    storage = new_bucket(s3_endpoint)
    slow = {"provider": "openai", "base_url": f"{slow_model}/fault/slow/v1", "model": "m"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCCHAT_")}
    env.update(
        DOCCHAT_DATA_DIR=str(tmp_path / "data"),
        DOCCHAT_DATABASE_URL=pg_url,
        DOCCHAT_LLM__MODELS=json.dumps({"slow": slow}),
        DOCCHAT_CHAT__STREAM_SAVE_INTERVAL_S=str(SAVE_INTERVAL_S),
        # The clean-up that ends a dead node's turns runs every 5 s, not each minute.
        DOCCHAT_TASKS__CLEANUP_INTERVAL_S="5",
    )
    for key, value in storage.model_dump(mode="json", exclude_none=True).items():
        env[f"DOCCHAT_STORAGE__{key.upper()}"] = str(value)
    secret = storage.secret_access_key
    assert secret is not None  # dumped as asterisks above
    env["DOCCHAT_STORAGE__SECRET_ACCESS_KEY"] = secret.get_secret_value()
    logs = tmp_path / "logs"
    logs.mkdir()
    found = Cluster(
        pg_url, tmp_path / "data", s3_endpoint, storage.bucket or "", storage.prefix, env, logs
    )
    try:
        for n in range(WEB_NODES):
            port = free_port()
            found.web.append(
                found.start(f"web{n + 1}", "serve", "--no-worker", "--port", str(port))
            )
            found.urls.append(f"http://127.0.0.1:{port}")
        for n in range(WORKERS):
            found.workers.append(found.start(f"worker{n + 1}", "worker", "--concurrency", "2"))
        deadline = time.monotonic() + START_TIMEOUT_S
        for process, url in zip(found.web, found.urls, strict=True):
            while not ready(url):
                assert process.poll() is None, f"a web node exited; see {logs}"
                assert time.monotonic() < deadline, f"not ready in {START_TIMEOUT_S:.0f} s"
                time.sleep(0.1)
        while len(found.sql("SELECT id FROM procrastinate_workers")) < WORKERS:
            assert all(w.poll() is None for w in found.workers), f"a worker exited; see {logs}"
            assert time.monotonic() < deadline, f"workers not up in {START_TIMEOUT_S:.0f} s"
            time.sleep(0.1)
        yield found
    finally:
        for process in found.web + found.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)  # a step may have stopped it
                process.kill()
            process.wait()


@pytest.fixture
def slow_model() -> Iterator[str]:
    """An OpenAI-compatible server whose model ``m`` at /fault/slow/v1 streams a word every 20 ms
    for 10 s."""
    with serve(chat_server()) as url:
        yield url


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def poll(
    client: httpx.Client,
    path: str,
    done: Callable[[Any], bool],
    *,
    timeout: float,
    seen: list[Any] | None = None,
) -> Any:
    """GET ``path`` until ``done`` says yes of its JSON; every answer is added to ``seen``."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path)
        assert response.status_code == 200, response.text
        state = response.json()
        if seen is not None:
            seen.append(state)
        if done(state):
            return state
        assert time.monotonic() < deadline, f"after {timeout:.0f} s: {state}"
        time.sleep(0.05)


def finished(task: dict[str, Any]) -> bool:
    return task["finished_at"] is not None


def last_interrupted(listed: dict[str, Any]) -> bool:
    """Whether the last message of a session's list is an answer marked interrupted."""
    items = listed["items"]
    return bool(items) and (items[-1]["metadata"] or {}).get("status") == "interrupted"


def upload(client: httpx.Client, files: list[tuple[str, bytes]]) -> str:
    response = client.post("/api/documents", files=[("files", f) for f in files])
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


def messages(client: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/sessions/{session_id}/messages")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def stored(cluster: Cluster) -> tuple[int, int, int, int]:
    """Documents, distinct file names, chunks, distinct (content, position) of chunks."""
    (docs, names), *_ = cluster.sql("SELECT count(*), count(DISTINCT file_name) FROM documents")
    (chunks, distinct), *_ = cluster.sql(
        "SELECT count(*), count(DISTINCT (sha256, ordinal)) FROM chunks"
    )
    return docs, names, chunks, distinct


def test_a_cluster_of_three_web_nodes_and_two_workers_loses_nothing_and_does_nothing_twice(
    cluster: Cluster, tmp_path: Path
) -> None:
    began = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - began:5.1f} s] {line}")

    with ExitStack() as stack:
        node1, node2, node3 = (
            stack.enter_context(httpx.Client(base_url=url, timeout=60)) for url in cluster.urls
        )
        # A web-only node runs no worker of its own: the queue's only workers are the two.
        assert len(cluster.sql("SELECT id FROM procrastinate_workers")) == WORKERS

        # 1. Uploads through node 1, progress read through node 2.
        files = library(tmp_path)
        batch = upload(node1, files)
        readings: list[dict[str, Any]] = []
        done = poll(node2, f"/api/tasks/{batch}", finished, timeout=180, seen=readings)
        assert done["status"] == "succeeded", done
        assert done["result"]["added"] == len(files) and done["result"]["failed"] == 0, done
        running = [r for r in readings if r["status"] == "running"]
        assert running, readings  # node 2 saw the job while a worker ran it
        say(f"1. {len(files)} files: node 2 read {len(running)} states of the running job")
        listed = node3.get("/api/documents", params={"limit": 1000}).json()["items"]
        assert sorted(d["file_name"] for d in listed) == sorted(name for name, _ in files)
        assert {d["status"] for d in listed} == {"indexed"}

        # 2. Chat turns posted at once to all three nodes, in two sessions.
        sessions = [node1.post("/api/sessions").json()["id"] for _ in range(2)]
        with open(DATA / "handbook-qa.jsonl") as qa:
            questions = [json.loads(line)["question"] for line in qa][:10]
        nodes = (node1, node2, node3)

        def ask(i: int) -> dict[str, Any]:
            asked = nodes[i % 3].post(
                f"/api/sessions/{sessions[i % 2]}/chat", json={"question": questions[i]}
            )
            assert asked.status_code == 200, asked.text
            answer: dict[str, Any] = asked.json()
            return answer

        with ThreadPoolExecutor(len(questions)) as pool:
            answers = list(pool.map(ask, range(9)))
        acknowledged = {a["user_message_id"] for a in answers} | {
            a["assistant_message_id"] for a in answers
        }
        assert len(acknowledged) == 2 * len(answers)

        def present_once(client: httpx.Client) -> None:
            ids = [m["id"] for sid in sessions for m in messages(client, sid)]
            assert sorted(ids) == sorted(acknowledged)  # each once, and nothing else

        for node in nodes:
            present_once(node)
        say(f"2. {len(answers)} turns on 3 nodes: each of {len(acknowledged)} messages once")

        # 3. A worker SIGKILLed while it runs a background chat turn and an ingest.  The other
        # worker is stopped (SIGSTOP) until the first has taken both, for less than the
        # STALLED_AFTER_S after which the first would take it for dead.
        first, other = cluster.workers
        other.send_signal(signal.SIGSTOP)
        paused = time.monotonic()
        session = node1.post("/api/sessions").json()["id"]
        question = "How long is CCTV footage kept?"
        accepted = node2.post(
            f"/api/sessions/{session}/chat",
            json={"question": question, "model": "slow", "background": True},
        )
        assert accepted.status_code == 202, accepted.text
        turn = accepted.json()["task_id"]
        poll(  # under way: 5 words of its answer saved, of the 500 the model sends in 10 s
            node3,
            f"/api/sessions/{session}/messages",
            lambda m: len(m["items"]) == 2 and len(m["items"][1]["content"].split()) >= 5,
            timeout=60,
        )
        batch = [generated("lease", n, words=2000) for n in range(8)]
        ingest = upload(node1, batch)
        poll(
            node3,
            f"/api/tasks/{ingest}",
            lambda t: (t["status"] == "running" and t["processed"] >= 1) or finished(t),
            timeout=60,
        )
        other.send_signal(signal.SIGCONT)
        pause = time.monotonic() - paused
        assert pause < STALLED_AFTER_S - HEARTBEAT_INTERVAL_S, f"stopped for {pause:.1f} s"
        owners = cluster.sql(
            "SELECT DISTINCT worker_id FROM procrastinate_jobs WHERE status = 'doing' "
            "AND args->>'task_id' IN (:ingest, :turn)",
            ingest=ingest,
            turn=turn,
        )
        assert len(owners) == 1, owners  # one worker runs both
        first.kill()
        first.wait()
        killed = time.monotonic()
        assert not finished(node3.get(f"/api/tasks/{ingest}").json())  # killed mid-ingest
        assert not finished(node3.get(f"/api/tasks/{turn}").json())  # and mid-turn
        (kept,) = cluster.sql("SELECT count(*) FROM documents WHERE file_name LIKE 'lease-%'")
        ended = poll(node2, f"/api/tasks/{turn}", finished, timeout=120)
        turn_s = time.monotonic() - killed
        assert ended["status"] == "interrupted", ended
        assert ended["errors"][-1]["code"] == "interrupted", ended
        redone = poll(node2, f"/api/tasks/{ingest}", finished, timeout=180)
        ingest_s = time.monotonic() - killed
        assert redone["status"] == "succeeded", redone
        retried = {"message": "its worker stopped; the job runs again", "code": "retried"}
        assert retried in redone["errors"], redone
        result = redone["result"]
        assert result["added"] + result["unchanged"] == len(batch), result
        assert result["failed"] == 0, result
        interrupted = poll(
            node1,
            f"/api/sessions/{session}/messages",
            last_interrupted,
            timeout=30,
        )["items"]
        assert [m["role"] for m in interrupted] == ["user", "assistant"], interrupted
        assert interrupted[0]["content"] == question
        assert interrupted[1]["content"].split()[:2] == ["word0", "word1"], (
            interrupted
        )  # the partial answer
        say(
            f"3. worker SIGKILLed with {kept[0]} of {len(batch)} files stored: the turn "
            f"ended interrupted {turn_s:.1f} s and the ingest succeeded {ingest_s:.1f} s later"
        )

        # 4. A third ingest, cancelled through node 3 while the other worker runs it.
        cancelled = upload(node1, [generated("cancel", n, words=6000) for n in range(8)])
        poll(
            node3,
            f"/api/tasks/{cancelled}",
            lambda t: t["status"] == "running" and t["processed"] >= 1,
            timeout=120,
        )
        asked = time.monotonic()
        response = node3.post(f"/api/tasks/{cancelled}/cancel")
        assert response.status_code == 202, response.text
        stopped = poll(node3, f"/api/tasks/{cancelled}", finished, timeout=60)
        assert stopped["status"] == "cancelled", stopped
        took = time.monotonic() - asked
        assert stopped["processed"] < stopped["total"], stopped  # before its end
        say(
            f"4. a cancel through node 3 ended the job {took:.2f} s later, at "
            f"{stopped['processed']} of {stopped['total']} ({stopped['current']})"
        )

        # Every document once, each passage once, every original in the bucket and none in files/.
        docs, names, chunks, distinct = stored(cluster)
        assert docs == names and chunks == distinct, (docs, names, chunks, distinct)
        listed = node2.get("/api/documents", params={"limit": 1000}).json()["items"]
        assert len(listed) == docs
        for d in listed:
            assert d["status"] == "indexed" or d["file_name"].startswith("cancel-"), d
        shas = {d["sha256"] for d in listed}
        keys = object_keys(cluster.endpoint, cluster.bucket)
        # An original the killed worker was storing may stay under incoming/, which nothing
        # trusts (a lifecycle rule expires it: README).
        incoming = [k for k in keys if k.startswith(f"{cluster.prefix}incoming/")]
        assert len(incoming) <= 1, incoming
        kept = [k for k in keys if k not in incoming]
        assert kept == sorted(f"{cluster.prefix}{s[:2]}/{s}" for s in shas)
        assert not list((cluster.data_dir / "files").rglob("*"))

        # 5. A web node SIGKILLed while it streams an answer.
        streamed = node3.post("/api/sessions").json()["id"]
        body = {"question": "What is the visitor parking level?", "model": "slow"}
        with node3.stream("POST", f"/api/sessions/{streamed}/chat/stream", json=body) as stream:
            first_token = None
            for line in stream.iter_lines():
                if line == "event: token" and first_token is None:
                    first_token = time.monotonic()
                # A second of the model's words: saved several times over.
                if first_token is not None and time.monotonic() - first_token > 1.0:
                    break
            cluster.web[2].kill()
            cluster.web[2].wait()
        killed = time.monotonic()
        after = node1.post(f"/api/sessions/{sessions[0]}/chat", json={"question": questions[9]})
        assert after.status_code == 200, after.text  # the other nodes keep serving
        acknowledged |= {after.json()["user_message_id"], after.json()["assistant_message_id"]}
        assert ready(cluster.urls[1])
        answer = poll(
            node2,
            f"/api/sessions/{streamed}/messages",
            last_interrupted,
            timeout=60,
        )["items"][-1]
        marked_s = time.monotonic() - killed
        assert answer["content"].split()[:2] == ["word0", "word1"], answer  # what it had streamed
        task = node1.get(f"/api/tasks/{answer['metadata']['turn_id']}").json()
        assert task["status"] == "interrupted", task
        for node in (node1, node2):
            present_once(node)
        say(
            f"5. a web node SIGKILLed mid-stream: its answer marked interrupted {marked_s:.1f} s "
            "later"
        )
