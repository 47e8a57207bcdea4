"""Migrations run once: several processes opening one fresh database at the same moment (servers
started together) all come up, one of them migrates and the others find the schema current."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from docchat.migrations import head_revision

PROCESSES = 4

#: Opens the database as a server does, once the test says go: each process has imported
#: everything first, so the upgrades start within a few milliseconds of one another.
OPEN_ON_GO = """
import sys
from docchat.config import Settings
from docchat.db import Database
from docchat.migrations import current_revision
settings = Settings()
print("loaded", flush=True)
sys.stdin.readline()
database = Database.from_settings(settings)
print(current_revision(database.engine), flush=True)
database.dispose()
"""


def test_processes_starting_at_once_migrate_once(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DOCCHAT_DATABASE_URL": database_url, "DOCCHAT_DATA_DIR": str(tmp_path)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_ON_GO],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline() == "loaded\n", process.communicate()[1]
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outcomes = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    head = head_revision()
    for process, (out, err) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, err
        assert out == f"{head}\n", err
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [row[0] for row in versions] == [head]
