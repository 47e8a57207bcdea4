"""``docchat serve`` in a process of its own, for tests that kill it or stop it as a user would.

One helper for the CLI test (Ctrl-C exits 0) and the recovery tests (SIGKILL mid-work, then a
new server on the same data dir and database), so they start and wait for the server alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from retrieval.openai_server import free_port

#: How long ``docchat serve`` may take to answer /healthz: a few seconds on a quiet 2-core
#: machine, past a minute on one shared by several test runs (load 30 seen), hence the margin.
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ServeProcess:
    """A running ``docchat serve``."""

    process: subprocess.Popen[bytes]
    #: e.g. http://127.0.0.1:N
    url: str


@contextmanager
def serve_process(
    data_dir: Path,
    *,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
    capture_output: bool = False,
    host: str = "127.0.0.1",
    args: Sequence[str] = (),
) -> Iterator[ServeProcess]:
    """Start ``docchat serve`` on ``host`` (its loopback address is what the test talks to) and a
    free port with ``DOCCHAT_DATA_DIR=data_dir`` (and ``DOCCHAT_DATABASE_URL``, other variables
    from ``env``, more options in ``args``), wait until /healthz answers, and kill it afterwards if
    the test has not stopped it.

    With ``capture_output`` its stdout and stderr go to ``process.stdout``; otherwise nowhere.
    """
    port = free_port()
    environ = {**os.environ, "DOCCHAT_DATA_DIR": str(data_dir), **(env or {})}
    if database_url is not None:
        environ["DOCCHAT_DATABASE_URL"] = database_url
    output = subprocess.PIPE if capture_output else subprocess.DEVNULL
    command = [sys.executable, "-c", "from docchat.cli import app; app()", "serve"]
    process = subprocess.Popen(
        [*command, "--host", host, "--port", str(port), *args],
        env=environ,
        stdout=output,
        stderr=subprocess.STDOUT if capture_output else subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                said = process.communicate()[0] if capture_output else b""
                raise AssertionError(f"docchat serve exited: {said.decode(errors='replace')}")
            try:
                httpx.get(f"{url}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (
                    f"docchat serve did not answer within {START_TIMEOUT_S:.0f} s"
                )
                time.sleep(0.1)
        yield ServeProcess(process, url)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def worker_process(
    data_dir: Path,
    *,
    database_url: str,
    concurrency: int = 1,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``docchat worker`` on ``data_dir`` and ``database_url`` (other variables from
    ``env``; its output to ``log``, else nowhere), and kill it afterwards if the test has not."""
    environ = {
        **os.environ,
        "DOCCHAT_DATA_DIR": str(data_dir),
        "DOCCHAT_DATABASE_URL": database_url,
        **(env or {}),
    }
    command = [sys.executable, "-c", "from docchat.cli import app; app()", "worker"]
    with open(log or os.devnull, "ab") as output:
        process = subprocess.Popen(
            [*command, "--concurrency", str(concurrency)],
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
