"""A scripted OpenAI-compatible chat server for the browser tests: answers chosen by model id.

``run_scripted_model()`` serves ``POST /v1/chat/completions`` (streamed) and ``GET /v1/models`` on
a free port of 127.0.0.1 in a thread.  Each model id has a script: ``REPLIES`` holds fixed
replies sent at once; ``slow`` writes a word every ``SLOW_WORD_S`` seconds for minutes, until the
client hangs up (so a test can stop a long answer mid-way).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Fixed replies by model id.
REPLIES: dict[str, str] = {}
SLOW_WORD_S = 0.2
SLOW_WORDS = 1500


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the stream ends when the connection closes

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": m} for m in [*REPLIES, "slow"]]})
        self._send(200, "application/json", body.encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        model = str(request.get("model", ""))
        if model == "slow":
            words: Iterator[str] = _slow_words()
        elif model in REPLIES:
            words = iter([REPLIES[model]])
        else:
            self._send(404, "application/json", b'{"error": {"message": "no such model"}}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for word in words:
                self._chunk(model, {"content": word}, None)
            self._chunk(model, {}, "stop")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: the answer was cancelled

    def _chunk(self, model: str, delta: dict[str, str], finish: str | None) -> None:
        chunk = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _slow_words() -> Iterator[str]:
    for i in range(SLOW_WORDS):
        time.sleep(SLOW_WORD_S)
        yield f"word{i} "


@contextmanager
def run_scripted_model() -> Iterator[str]:
    """Serve the scripts; yields the base URL (``http://127.0.0.1:N/v1``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="scripted-model", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
