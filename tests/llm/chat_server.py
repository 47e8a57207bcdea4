"""A small OpenAI-compatible chat server that misbehaves on request, for clients' error handling.

``POST /v1/chat/completions`` streams ``ANSWER`` word by word, with a usage chunk when asked
(``stream_options.include_usage``).  Under ``/fault/{kind}/`` the same endpoint fails in one way
each (``FAULTS``), with the error bodies real servers send.  ``Seen`` records what was asked.  Run
it with ``serve`` from tests/retrieval/openai_server.py (uvicorn in a thread on a free port).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

ANSWER = "The capital of Xanadu is Zorbia."

#: What llama-cpp-python's server (and vLLM, and OpenAI until 2025) answers to a prompt that does
#: not fit: copied from a real llama_cpp.server 0.3.36.
OVERFLOW_LLAMA_CPP_PYTHON = {
    "error": {
        "message": "This model's maximum context length is 2048 tokens. However, you requested "
        "2139 tokens (2131 in the messages, 8 in the completion). Please reduce the length of "
        "the messages or completion.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
#: llama.cpp's own llama-server.
OVERFLOW_LLAMA_SERVER = {
    "error": {
        "code": 400,
        "message": "request (4476 tokens) exceeds the available context size (4096 tokens), "
        "try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 4476,
        "n_ctx": 4096,
    }
}
#: OpenAI's current wording.
OVERFLOW_OPENAI = {
    "error": {
        "message": "Your input exceeds the context window of this model. Please adjust your input "
        "and try again.",
        "type": "invalid_request_error",
        "param": "input",
        "code": "context_length_exceeded",
    }
}
#: vLLM: a flat error object, no "error" key, no code to go by.
OVERFLOW_VLLM = {
    "object": "error",
    "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 "
    "tokens (4488 in the messages, 512 in the completion). Please reduce the length of the "
    "messages or completion.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
#: Newer vLLM, naming both limit parameters (which must not pass for a parameter refusal).
OVERFLOW_VLLM_LIMIT = {
    "object": "error",
    "message": "'max_tokens' or 'max_completion_tokens' is too large: 512. This model's maximum "
    "context length is 4096 tokens and your request has 3700 input tokens (512 > 4096 - 3700).",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
#: A proxy that says only that the prompt is too long.
OVERFLOW_WORDING_ONLY = {"error": {"message": "Prompt is too long (5000 > 4096)."}}

OVERFLOWS = {
    "overflow-llama-cpp-python": OVERFLOW_LLAMA_CPP_PYTHON,
    "overflow-llama-server": OVERFLOW_LLAMA_SERVER,
    "overflow-openai": OVERFLOW_OPENAI,
    "overflow-vllm": OVERFLOW_VLLM,
    "overflow-vllm-limit": OVERFLOW_VLLM_LIMIT,
    "overflow-wording-only": OVERFLOW_WORDING_ONLY,
}

#: Ways /fault/{kind}/v1/chat/completions misbehaves.
FAULTS = [
    "http-500",
    "http-401",
    "http-403",
    "http-404",
    "bad-request",
    "rate-limited",  # 429 every time
    "rate-limited-once",  # 429 with Retry-After: 1, then the answer
    "stall",  # no answer for 3 s
    "stall-mid-stream",  # one chunk, then nothing for 3 s
    "broken",  # two chunks, then the connection drops
    "truncated",  # two chunks, then the stream ends cleanly: no finish_reason, no [DONE]
    "empty",  # only [DONE]
    "not-json",
    "wrong-shape",
    "error-event",  # an error object inside the stream
    "no-usage",  # a good answer, never a usage chunk
    "strict",  # refuses stream_options (as older Azure API versions did)
    "reasoning",  # refuses max_tokens and any temperature but 1, as OpenAI's o-series does
    "slow",  # a chunk every 20 ms for 10 s: for closing early
    *OVERFLOWS,
]


@dataclass
class Seen:
    """What the server was asked, for tests to inspect."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    #: Set when a client went away from a /fault/slow/ stream; ``slow_chunks`` were sent by then.
    disconnected: threading.Event = field(default_factory=threading.Event)
    slow_chunks: int = 0

    def clear(self) -> None:
        """Forget everything seen so far."""
        self.bodies.clear()
        self.authorization.clear()
        self.attempts.clear()
        self.disconnected.clear()
        self.slow_chunks = 0


def _chunk(
    model: str, content: str | None = None, *, role: bool = False, finish: str | None = None
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _event(data: object) -> str:
    return f"data: {json.dumps(data)}\n\n"


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(f" {w}" for w in words[1:])]


def answer_events(model: str, *, usage: bool, text: str = ANSWER) -> Iterator[str]:
    """A complete, well-formed stream of ``text``."""
    pieces = _pieces(text)
    yield _event(_chunk(model, role=True))
    for piece in pieces:
        yield _event(_chunk(model, piece))
    yield _event(_chunk(model, finish="stop"))
    if usage:
        counts = {"prompt_tokens": 42, "completion_tokens": len(pieces), "total_tokens": 0}
        counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
        yield _event({**_chunk(model), "choices": [], "usage": counts})
    yield "data: [DONE]\n\n"


def _sse(events: Iterator[str] | AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream")


def create_app() -> FastAPI:
    """The server's app; its ``state.seen`` records the requests."""
    app = FastAPI()
    seen = Seen()
    app.state.seen = seen

    async def record(request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        seen.bodies.append(body)
        seen.authorization.append(request.headers.get("authorization"))
        return body

    def wants_usage(body: dict[str, Any]) -> bool:
        options = body.get("stream_options") or {}
        return bool(options.get("include_usage"))

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await record(request)
        return _sse(answer_events(body["model"], usage=wants_usage(body)))

    @app.post("/fault/{kind}/v1/chat/completions")
    async def fault(kind: str, request: Request) -> Response:
        body = await record(request)
        seen.attempts[kind] += 1
        model = body["model"]
        if kind in OVERFLOWS:
            return JSONResponse(OVERFLOWS[kind], status_code=400)
        if kind == "http-500":
            # Retry quickly: the client retries 5xx.
            return JSONResponse(
                {"error": {"message": "secret internals"}},
                status_code=500,
                headers={"retry-after-ms": "10"},
            )
        if kind == "http-401":
            # OpenAI echoes part of the key it refused.
            return JSONResponse(
                {
                    "error": {
                        "message": "Incorrect API key provided: sk-test-SECRET****",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
            )
        if kind == "http-403":
            return JSONResponse({"error": {"message": "forbidden"}}, status_code=403)
        if kind == "http-404":
            return JSONResponse(
                {"error": {"message": f"The model `{model}` does not exist"}}, status_code=404
            )
        if kind == "bad-request":
            return JSONResponse(
                {"error": {"message": "temperature must be at most 2", "code": "invalid_value"}},
                status_code=400,
            )
        if kind == "rate-limited":
            return JSONResponse(
                {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
                status_code=429,
                headers={"retry-after": "0.05"},
            )
        if kind == "rate-limited-once":
            if seen.attempts[kind] == 1:
                return JSONResponse(
                    {"error": {"message": "Rate limit reached"}},
                    status_code=429,
                    headers={"retry-after": "1"},
                )
            return _sse(answer_events(model, usage=wants_usage(body)))
        if kind == "stall":
            await asyncio.sleep(3)
            return _sse(answer_events(model, usage=False))
        if kind == "stall-mid-stream":

            async def stalling() -> AsyncIterator[str]:
                yield _event(_chunk(model, "The", role=True))
                await asyncio.sleep(3)
                yield "data: [DONE]\n\n"

            return _sse(stalling())
        if kind == "broken":

            def broken() -> Iterator[str]:
                yield _event(_chunk(model, "The", role=True))
                yield _event(_chunk(model, " capital"))
                raise RuntimeError("the connection drops here")

            return _sse(broken())
        if kind == "truncated":
            return _sse(
                iter([_event(_chunk(model, "The", role=True)), _event(_chunk(model, " capital"))])
            )
        if kind == "empty":
            return _sse(iter(["data: [DONE]\n\n"]))
        if kind == "not-json":
            return _sse(iter(["data: <html>502 Bad Gateway</html>\n\n", "data: [DONE]\n\n"]))
        if kind == "wrong-shape":
            return _sse(iter([_event({"choices": "oops"}), "data: [DONE]\n\n"]))
        if kind == "error-event":
            return _sse(
                iter(
                    [
                        _event(_chunk(model, "The", role=True)),
                        _event({"error": {"message": "CUDA out of memory", "code": 500}}),
                    ]
                )
            )
        if kind == "no-usage":
            return _sse(answer_events(model, usage=False))
        if kind == "strict":
            if "stream_options" in body:
                return JSONResponse(
                    {
                        "error": {
                            "message": "Unrecognized request argument supplied: stream_options",
                            "type": "invalid_request_error",
                        }
                    },
                    status_code=400,
                )
            return _sse(answer_events(model, usage=False))
        if kind == "reasoning":
            refusal = None
            if "max_tokens" in body:
                refusal = (
                    "Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead."
                )
            elif body.get("temperature", 1) != 1:
                refusal = (
                    f"Unsupported value: 'temperature' does not support {body['temperature']} "
                    "with this model. Only the default (1) value is supported."
                )
            if refusal:
                error = {"message": refusal, "type": "invalid_request_error", "code": None}
                return JSONResponse({"error": error}, status_code=400)
            return _sse(answer_events(model, usage=wants_usage(body)))
        if kind == "slow":

            async def slow() -> AsyncIterator[str]:
                try:
                    yield _event(_chunk(model, role=True))
                    for i in range(500):
                        yield _event(_chunk(model, f" word{i}"))
                        seen.slow_chunks += 1
                        await asyncio.sleep(0.02)
                    yield _event(_chunk(model, finish="stop"))
                    yield "data: [DONE]\n\n"
                finally:
                    # Starlette cancels the response when the client disconnects.
                    if seen.slow_chunks < 500:
                        seen.disconnected.set()

            return _sse(slow())
        raise HTTPException(404)

    return app
