"""Asking: a question in a session answered with checked citations, as JSON or as a live stream.

``POST …/chat`` answers in one JSON object; long modes (``full_reading``, ``deep_reflection``) and
``background=true`` run as a task instead (202, poll or cancel it).  ``POST …/chat/stream`` sends
Server-Sent Events as the answer is produced: ``retrieval``, ``token``, ``progress``, then ``done``
(the checked answer, its references, metadata and message ids) or ``error``.  A client that goes
away stops the turn; what it had produced is stored, marked cancelled.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from docchat.api.deps import OwnerDep, SessionId, WorkspaceDep
from docchat.api.schemas import (
    ChatRequest,
    ModelDescription,
    ModelList,
    TaskAccepted,
    error_responses,
)
from docchat.chat import modes
from docchat.chat.types import Answer, AnswerEvent
from docchat.errors import DocchatError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["chat"])

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `retrieval`, `token` (data: {text}), `progress`, "
        "then `done` (data: the answer as `POST …/chat` returns it) or `error` (data: "
        "{code, message, answer}).",
        "content": {"text/event-stream": {"schema": {"type": "object"}}},
    }
}


@router.get(
    "/models",
    operation_id="list_models",
    summary="List the models that can answer",
)
def list_models(workspace: WorkspaceDep) -> ModelList:
    """The extractive answerer, the built-in local model and the configured ones."""
    return ModelList(items=[ModelDescription(**asdict(m)) for m in workspace.models()])


@router.post(
    "/sessions/{session_id}/chat",
    operation_id="chat",
    summary="Ask a question in a session",
    responses={
        202: {"model": TaskAccepted, "description": "Answering as a background task."},
        **error_responses(403, 404, 413, 415, 422, 502),
    },
)
async def chat(
    session_id: SessionId,
    body: ChatRequest,
    response: Response,
    workspace: WorkspaceDep,
    owner: OwnerDep,
) -> Answer | TaskAccepted:
    """The answer with its references and metadata; both messages are stored.

    `full_reading` and `deep_reflection` (and any mode with `background`) answer as a task:
    202 with its id; the task's `result` is this answer when it succeeds.  A question and
    instructions that leave the model's context window no room to answer are refused: 422,
    code `context_length_exceeded` (the schema's lengths are in characters, a window in tokens).
    """
    # Modes that read many documents or call the model many times: a task, not a request.
    background = (
        body.background
        or modes.get(
            body.mode or workspace.session(session_id, owner=owner).settings.mode
        ).background
    )
    asked = body.asked(session_id=session_id, owner=owner)
    if not background:
        return await anyio.to_thread.run_sync(workspace.ask, asked)
    task = await anyio.to_thread.run_sync(workspace.start_ask, asked)
    status_url = f"/api/tasks/{task.id}"
    response.status_code = 202
    response.headers["Location"] = status_url
    return TaskAccepted(task_id=task.id, status_url=status_url)


@router.post(
    "/sessions/{session_id}/chat/stream",
    operation_id="chat_stream",
    summary="Ask a question and stream the answer (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={**_STREAM_DOC, **error_responses(403, 404, 413, 415, 422)},
)
async def chat_stream(
    session_id: SessionId,
    body: ChatRequest,
    request: Request,
    workspace: WorkspaceDep,
    owner: OwnerDep,
) -> StreamingResponse:
    """The turn as it happens.  Errors found before it starts (unknown session, invalid
    options) are ordinary JSON errors; a model failing mid-way is an `error` event."""
    pump = Pump(
        lambda cancel: workspace.ask_stream(
            body.asked(session_id=session_id, owner=owner), cancel=cancel
        )
    )
    first = await first_event(pump, request)  # raises what the turn raised at once
    return StreamingResponse(
        sse_stream(first, pump, request, encode=_encode),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


#: How often a turn that has not produced its first event looks for a client that left.
FIRST_EVENT_POLL_S = 0.25


async def first_event(pump: Pump, request: Request) -> AnswerEvent | None:
    """The turn's first event, or None when the client left before it came (the turn is told
    to stop).  A follow-up's rewrite or a long mode's first step can take minutes with a slow
    model, and until the response starts nothing else notices a client that went away."""
    while True:
        try:
            return await anyio.to_thread.run_sync(partial(pump.next, timeout=FIRST_EVENT_POLL_S))
        except queue.Empty:
            if await request.is_disconnected():
                pump.cancel.set()
                return None


async def sse_stream(
    first: AnswerEvent | None,
    pump: Pump,
    request: Request,
    *,
    encode: Callable[[AnswerEvent], bytes],
) -> AsyncIterator[bytes]:
    """The events of ``pump`` encoded for the wire; a client that leaves stops the turn."""
    event = first
    try:
        while event is not None:
            data = encode(event)
            if data:
                yield data
            if await request.is_disconnected():
                break
            try:
                # Abandoned on cancel: when the client leaves, Starlette cancels this generator,
                # and a long mode's step (a model call reading a document) may not yield its
                # next event for minutes; the `finally` below must set `cancel` now, not then.
                event = await anyio.to_thread.run_sync(pump.next, abandon_on_cancel=True)
            except DocchatError as exc:
                yield _error(exc.code, exc.message)
                break
            except Exception:
                log.exception("a streamed turn failed")
                yield _error("internal_error", "internal server error")
                break
    finally:
        pump.cancel.set()  # a finished turn ignores it


def _error(code: str, message: str) -> bytes:
    data = json.dumps({"code": code, "message": message, "answer": None})
    return f"event: error\ndata: {data}\n\n".encode()


def _encode(event: AnswerEvent) -> bytes:
    data = event.model_dump(mode="json", exclude={"type"})
    if event.type == "done":
        data = data["answer"]
    return f"event: {event.type}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class Pump:
    """Runs a turn's event generator in its own thread, handing events over one at a time.

    The turn runs to its end there even if the client leaves (it then sees ``cancel``), so the
    generator is never closed from another thread mid-step.
    """

    _END = object()

    def __init__(self, start: Callable[[threading.Event], Iterator[AnswerEvent]]) -> None:
        self.cancel = threading.Event()
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(start,), daemon=True)
        self._thread.start()

    def _run(self, start: Callable[[threading.Event], Iterator[AnswerEvent]]) -> None:
        try:
            for event in start(self.cancel):
                self._queue.put(event)
        except BaseException as exc:  # handed to the reader, which raises it
            self._queue.put(exc)
        finally:
            self._queue.put(self._END)

    def next(self, timeout: float | None = None) -> AnswerEvent | None:
        """The next event; None at the end; raises what the turn raised, or ``queue.Empty``
        when ``timeout`` seconds pass without one."""
        item = self._queue.get(timeout=timeout)
        if item is self._END:
            return None
        if isinstance(item, BaseException):
            if isinstance(item, DocchatError):
                raise item
            raise RuntimeError("the turn failed unexpectedly") from item
        return item  # type: ignore[return-value]
