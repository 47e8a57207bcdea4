"""``docchat mcp``: the MCP tools over stdin/stdout, driven by the SDK's own client.

The command runs as a real subprocess (the installed ``docchat`` script) on a SQLite data dir
where the test ingested the handbook; the client calls every tool and checks what comes back
(tests/mcp_checks.py).  The same tools over HTTP at ``/mcp``: tests/api/test_mcp_api.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from corpora import Corpora
from event_loops import run_async
from mcp import Client, StdioServerParameters
from mcp_checks import exercise_tools, ingest_handbook

DOCCHAT = Path(sys.executable).parent / "docchat"


def test_stdio_server_answers_every_tool(tmp_path: Path, corpora: Corpora) -> None:
    data_dir = tmp_path / "data"
    ingest_handbook(data_dir, corpora)
    server = StdioServerParameters(
        command=str(DOCCHAT),
        args=["mcp"],
        env={"DOCCHAT_DATA_DIR": str(data_dir), "HOME": str(tmp_path / "home")},
        cwd=str(tmp_path),
    )

    async def main() -> None:
        async with Client(server, read_timeout_seconds=120) as client:
            await exercise_tools(client)

    run_async(main)


def test_stdio_server_reports_a_bad_database_on_stderr(tmp_path: Path) -> None:
    # stdout is the protocol's channel: the error goes to stderr, and the command ends.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DOCCHAT_DATA_DIR": str(tmp_path),
        "DOCCHAT_DATABASE_URL": "nosuchdb://x",
    }
    done = subprocess.run(
        [str(DOCCHAT), "mcp"], env=env, input="", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "cannot open nosuchdb://x" in done.stderr and "Traceback" not in done.stderr
