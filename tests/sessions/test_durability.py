"""Killed processes and restarts: every acknowledged message survives, timestamps intact."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from appender import append_acknowledging_on

from docchat.config import Settings
from docchat.sessions.store import SessionStore

#: Appenders are forked from a server process that has imported the store, its migrations and
#: both drivers once: the first acknowledgement comes 0.05-0.15 s after the start, not 1.1-1.6 s
#: (a new interpreter's imports and the first migration check, 20 rounds per backend).  Modules of
#: docchat only: Python 3.11's fork server does not see the tests' sys.path.
FORKS = multiprocessing.get_context("forkserver")
FORKS.set_forkserver_preload(
    [
        "docchat.sessions.store",
        "docchat.migrations",
        "alembic.runtime.migration",
        "sqlalchemy.dialects.sqlite.pysqlite",
        "sqlalchemy.dialects.postgresql.psycopg",
    ]
)


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_message(settings: Settings) -> None:
    store = SessionStore.from_settings(settings)
    session = store.create()
    store.db.dispose()
    rng = random.Random(20261121)
    acknowledged: list[tuple[str, int, int]] = []
    for round_no in range(20):
        tag = f"r{round_no}"
        acks, child_end = FORKS.Pipe(duplex=False)
        child = FORKS.Process(
            target=append_acknowledging_on,
            args=(
                child_end,
                settings.effective_database_url.get_secret_value(),
                str(settings.data_dir),
                session.id,
                tag,
                1_000_000,
            ),
        )
        child.start()
        child_end.close()
        # Wait for the first acknowledgement so the kill lands mid-stream, then at a random moment.
        lines = [acks.recv_bytes()]
        time.sleep(rng.uniform(0.0, 0.3))
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        # Every acknowledgement sent before the kill; one is a single write, never cut short.
        while True:
            try:
                lines.append(acks.recv_bytes())
            except EOFError:
                break
        child.join()
        acks.close()
        assert child.exitcode == -signal.SIGKILL
        for line in lines:
            t, seq, pos = line.decode().split()
            acknowledged.append((t, int(seq), int(pos)))
        # After each kill the store opens and holds every acknowledged message.
        reopened = SessionStore.from_settings(settings)
        stored = {(m.content, m.position) for m in reopened.messages(session.id)}
        missing = [a for a in acknowledged if (f"{a[0]}:{a[1]}", a[2]) not in stored]
        assert missing == [], f"round {round_no}: lost {len(missing)} acknowledged messages"
        positions = [m.position for m in reopened.messages(session.id)]
        assert positions == list(range(len(positions)))
        reopened.db.dispose()
    assert len(acknowledged) > 20


def _run(code: str, settings: Settings) -> str:
    env = {
        **os.environ,
        "DOCCHAT_DATABASE_URL": settings.effective_database_url.get_secret_value(),
        "DOCCHAT_DATA_DIR": str(settings.data_dir),
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_restart_reads_back_identically(settings: Settings) -> None:
    writer = """
import docchat
s = docchat.create_chat_session(owner="ann", title="Über résumé ✓", settings={"mode": "extensive"})
docchat.add_message_to_session(s.id, "user", "Hello — ünïcode", {"k": [1, 2.5, None]})
docchat.add_message_to_session(s.id, "assistant", "Hi", None, [{"document": "a.pdf", "page": 1}])
print(docchat.get_session(s.id, include_messages=True).model_dump_json())
"""
    written = json.loads(_run(writer, settings))
    reader = f"""
import docchat
print(docchat.get_session({written["id"]!r}, include_messages=True).model_dump_json())
"""
    read = json.loads(_run(reader, settings))
    assert read == written
    assert read["created_at"].endswith("Z") or read["created_at"].endswith("+00:00")
    assert len(read["messages"]) == 2
