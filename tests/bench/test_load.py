"""bench/load.py at a tiny size, so that the load benchmark cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "load.py"


@pytest.mark.slow
def test_load_runs_and_counts_every_acknowledged_turn_and_upload(
    pg_admin_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "load.json"
    work = tmp_path / "work"
    work.mkdir()
    args = ["--apps", "2", "--workers", "1", "--users", "5", "--spawn-rate", "5"]
    args += ["--seconds", "5", "--no-baseline", "--database-url", pg_admin_url]
    args += ["--work-dir", str(work), "--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "cluster: 2 app process(es) + 1 worker(s), 5 users, 5 s" in done.stdout
    (run,) = json.loads(out.read_text())["runs"]
    assert run["apps"] == 2 and run["workers"] == 1 and run["failures"] == 0
    assert run["requests"] > 0 and "chat" in run["endpoints"]
    counts = run["counts"]
    # Every user uploads one file as it starts and asks at least once in 5 s of 0.5-1.5 s waits.
    assert counts["uploads_acknowledged"] >= 5
    assert counts["uploads_present_once"] == counts["uploads_indexed"]
    assert counts["uploads_indexed"] == counts["uploads_acknowledged"]
    assert counts["turns_acknowledged"] > 0
    assert counts["turns_present_once"] == counts["answers_present"]
    assert counts["answers_present"] == counts["turns_acknowledged"]
    assert counts["turns_lost"] == counts["turns_duplicated"] == 0
    assert counts["messages_unacknowledged"] == counts["uploads_unacknowledged"] == 0
    # Its databases are dropped, its folder removed and its processes gone.
    admin = create_engine(pg_admin_url)
    with admin.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE 'docchat_load_%'")
        ).scalar_one()
    admin.dispose()
    assert left == 0
    assert list(work.iterdir()) == []
