"""docchat as an OpenAI-compatible model: any OpenAI client (Open WebUI, LibreChat, editors, the
official SDK) can chat with the user's documents.

``GET /v1/models`` lists one model per chat mode and answering model: ``docchat-basic`` (the
configured default answerer), ``docchat-extensive:smollm2`` (a mode with a named model), and so
on.  ``POST /v1/chat/completions`` takes the conversation in ``messages`` (the last user message
is the question, earlier ones are its memory), answers it like ``POST …/chat`` and stores the
turn in a session (a new one unless ``session_id`` is sent).  Besides OpenAI's fields the answer
carries ``references`` (the cited passages, with spans) and ``docchat`` (session, message ids,
metadata); streamed, they arrive in the last chunk before ``[DONE]``.
"""

from __future__ import annotations

import json
import time
import uuid
from functools import partial
from typing import Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from docchat.api.deps import OwnerDep, WorkspaceDep
from docchat.api.routes.chat import Pump, sse_stream
from docchat.api.schemas import error_responses
from docchat.chat.memory import Turn
from docchat.chat.types import Answer, AnswerEvent, Citation, DoneEvent, ErrorEvent, TokenEvent
from docchat.errors import InvalidInput
from docchat.options import ChatMode, ChatOptions

router = APIRouter(prefix="/v1", tags=["openai"])

MODES: tuple[ChatMode, ...] = ("basic", "extensive", "full_reading", "deep_reflection")
PREFIX = "docchat-"


class OpenAIMessage(BaseModel):
    """One message of the conversation; content as text or as OpenAI's list of parts."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool", "developer", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text (text parts joined; images and files ignored)."""
        if isinstance(self.content, str):
            return self.content
        parts = self.content or []
        return "\n".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


class CompletionRequest(BaseModel):
    """OpenAI's chat completion request; fields docchat does not use are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(max_length=300, description="An id from GET /v1/models.")
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    session_id: str | None = Field(
        None, max_length=64, description="docchat: continue this session (default: a new one)."
    )
    options: ChatOptions | None = Field(None, description="docchat: options for this turn.")


class ModelCard(BaseModel):
    """One entry of GET /v1/models."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "docchat"


class ModelCards(BaseModel):
    """GET /v1/models."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


def model_ids(names: list[str], default: str) -> list[str]:
    """Every id docchat answers to: mode alone (default model), and mode:model."""
    ids = [f"{PREFIX}{mode}" for mode in MODES]
    ids += [f"{PREFIX}{mode}:{name}" for mode in MODES for name in names if name != default]
    return ids


def parse_model_id(model_id: str, names: list[str]) -> tuple[ChatMode, str | None]:
    """(mode, model name or None for the default) of an id from ``model_ids``."""
    mode_part, _, name = model_id.removeprefix(PREFIX).partition(":")
    if not model_id.startswith(PREFIX) or mode_part not in MODES or (name and name not in names):
        raise InvalidInput(
            f"unknown model {model_id[:100]!r}: GET /v1/models lists them "
            f"(e.g. {PREFIX}basic, {PREFIX}extensive:<model>)",
            field="model",
        )
    return mode_part, name or None


@router.get("/models", operation_id="openai_list_models", summary="List models (OpenAI format)")
def list_models(workspace: WorkspaceDep) -> ModelCards:
    """One model id per chat mode, and per mode and configured model."""
    infos = workspace.models()
    default = next((m.name for m in infos if m.default), "")
    created = int(time.time())
    names = [m.name for m in infos]
    return ModelCards(data=[ModelCard(id=i, created=created) for i in model_ids(names, default)])


@router.post(
    "/chat/completions",
    operation_id="openai_chat_completions",
    summary="Answer a conversation from the documents (OpenAI format)",
    responses={
        200: {
            "description": "A chat.completion, or with stream=true Server-Sent Events of "
            "chat.completion.chunk objects ending with data: [DONE]; both carry `references`.",
            "content": {"application/json": {}, "text/event-stream": {}},
        },
        **error_responses(403, 404, 413, 415, 422, 502),
    },
)
async def chat_completions(
    body: CompletionRequest, request: Request, workspace: WorkspaceDep, owner: OwnerDep
) -> Any:
    """The answer to the last user message, the earlier messages being the conversation."""
    names = [m.name for m in workspace.models()]
    mode, model = parse_model_id(body.model, names)
    question, history = _conversation(body.messages)
    options = body.options or ChatOptions()
    updates: dict[str, Any] = {}
    if body.temperature is not None and options.temperature is None:
        updates["temperature"] = body.temperature
    limit = body.max_completion_tokens or body.max_tokens
    if limit is not None and options.max_tokens is None:
        updates["max_tokens"] = limit
    options = options.model_copy(update=updates)
    turn = partial(
        workspace.ask_stream,
        question,
        session_id=body.session_id,
        owner=owner,
        mode=mode,
        model=model,
        options=options,
        history=history,
    )
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if not body.stream:
        ask = partial(workspace.ask, *turn.args, **turn.keywords)
        return _completion(completion_id, body.model, await anyio.to_thread.run_sync(ask))
    pump = Pump(lambda cancel: turn(cancel=cancel))
    first = await anyio.to_thread.run_sync(pump.next)
    chunks = sse_stream(first, pump, request, encode=_chunk_encoder(completion_id, body.model))
    return StreamingResponse(chunks, media_type="text/event-stream")


def _conversation(messages: list[OpenAIMessage]) -> tuple[str, list[Turn]]:
    """The question (the last user message) and the earlier exchanges as memory."""
    if messages[-1].role != "user" or not messages[-1].text().strip():
        raise InvalidInput("the last message must be the user's question", field="messages")
    turns: list[Turn] = []
    question: str | None = None
    for m in messages[:-1]:
        if m.role == "user":
            question = m.text()
        elif m.role == "assistant" and question is not None:
            turns.append(Turn(question, m.text()))
            question = None
    return messages[-1].text(), turns


def _usage(answer: Answer) -> dict[str, int]:
    usage = answer.metadata.get("usage", {})
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _extras(answer: Answer) -> dict[str, Any]:
    return {
        "references": [_reference(c) for c in answer.references],
        "docchat": {
            "session_id": answer.session_id,
            "user_message_id": answer.user_message_id,
            "assistant_message_id": answer.assistant_message_id,
            "metadata": answer.metadata,
        },
    }


def _reference(citation: Citation) -> dict[str, Any]:
    return citation.model_dump(mode="json", exclude_none=True)


def _completion(completion_id: str, model: str, answer: Answer) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(answer),
        **_extras(answer),
    }


def _chunk_encoder(completion_id: str, model: str) -> Any:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()

    def encode(event: AnswerEvent) -> bytes:
        if isinstance(event, TokenEvent):
            return chunk({"content": event.text})
        if isinstance(event, DoneEvent):
            answer = event.answer
            return chunk({}, "stop", usage=_usage(answer), **_extras(answer)) + b"data: [DONE]\n\n"
        if isinstance(event, ErrorEvent):
            error = {"error": {"code": event.code, "message": event.message}}
            return f"data: {json.dumps(error)}\n\ndata: [DONE]\n\n".encode()
        return b""  # retrieval and progress have no OpenAI equivalent

    return encode
