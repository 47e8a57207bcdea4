"""docchat as an OpenAI-compatible model: any OpenAI client (Open WebUI, LibreChat, editors, the
official SDK) can chat with the user's documents.

``GET /v1/models`` lists one model per chat mode and answering model: ``docchat-basic`` (the
configured default answerer), ``docchat-extensive:smollm2`` (a mode with a named model), and so
on.  ``POST /v1/chat/completions`` takes the conversation in ``messages`` (the last user message
is the question, earlier ones are its memory), answers it like ``POST …/chat`` and stores the
turn in a session (a new one unless ``session_id`` is sent).  Besides OpenAI's fields the answer
carries ``references`` (the cited passages, with spans) and ``docchat`` (session, message ids,
metadata); streamed, they arrive in the chunk that carries ``finish_reason``.

What docchat cannot do is refused (400, ``param`` naming it), never silently ignored: more than one
choice (``n``), a tool call the client requires (``tool_choice``), a response format other than
text.  Streams follow OpenAI's framing: the first chunk's delta holds the role; with
``stream_options.include_usage`` every chunk has ``usage: null`` and the usage follows in a last
chunk of its own, with ``choices: []``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from docchat.api.deps import OwnerDep, WorkspaceDep
from docchat.api.routes.chat import Pump, sse_stream
from docchat.api.schemas import ErrorResponse, error_responses
from docchat.chat.memory import Turn
from docchat.chat.types import (
    Answer,
    AnswerEvent,
    Citation,
    DoneEvent,
    ErrorEvent,
    Question,
    TokenEvent,
)
from docchat.errors import InvalidInput, UnsupportedParameter
from docchat.options import ChatMode, ChatOptions, mode_names
from docchat.validation import OptionalWholeNumber

router = APIRouter(prefix="/v1", tags=["openai"])

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


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``."""

    model_config = ConfigDict(extra="ignore")

    include_usage: bool = Field(
        False, description="Send the usage in a last chunk of its own, with `choices: []`."
    )


class CompletionRequest(BaseModel):
    """OpenAI's chat completion request.  Fields that change nothing a client relies on (`user`,
    `seed`, `stop`, ...) are accepted and ignored; `n` > 1, a required tool call and a response
    format other than text are refused (400)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(max_length=300, description="An id from GET /v1/models.")
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: OptionalWholeNumber = Field(None, ge=1, le=32768)
    max_completion_tokens: OptionalWholeNumber = Field(None, ge=1, le=32768)
    session_id: str | None = Field(
        None, max_length=64, description="docchat: continue this session (default: a new one)."
    )
    options: ChatOptions | None = Field(None, description="docchat: options for this turn.")
    stream_options: StreamOptions | None = None
    n: OptionalWholeNumber = Field(
        None, ge=1, le=128, description="Choices to return: only 1 is supported."
    )
    tools: list[dict[str, Any]] | None = Field(
        None, description="Accepted, never called: docchat answers from the documents."
    )
    tool_choice: str | dict[str, Any] | None = Field(
        None, description="`none` or `auto`: docchat never calls a tool, so it cannot be required."
    )
    response_format: dict[str, Any] | None = Field(
        None, description='Only `{"type": "text"}`: answers are prose with citation markers.'
    )

    def refuse_unsupported(self) -> None:
        """UnsupportedParameter naming the first parameter asking for what docchat cannot do."""
        if self.n is not None and self.n > 1:
            raise UnsupportedParameter(
                f"n={self.n} is not supported: docchat returns one choice (n=1)", field="n"
            )
        if self.tool_choice is not None and self.tool_choice not in ("none", "auto"):
            raise UnsupportedParameter(
                "tool_choice: docchat calls no tools, so a tool call cannot be required "
                "(use 'auto' or 'none')",
                field="tool_choice",
            )
        kind = (self.response_format or {}).get("type", "text")
        if kind != "text":
            raise UnsupportedParameter(
                f"response_format {str(kind)[:40]!r} is not supported: docchat answers in text",
                field="response_format",
            )


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
    """Every id docchat answers to: mode alone (default model), and mode:model, for every
    registered chat mode."""
    modes = mode_names()
    ids = [f"{PREFIX}{mode}" for mode in modes]
    ids += [f"{PREFIX}{mode}:{name}" for mode in modes for name in names if name != default]
    return ids


def parse_model_id(model_id: str, names: list[str]) -> tuple[ChatMode, str | None]:
    """(mode, model name or None for the default) of an id from ``model_ids``."""
    mode_part, _, name = model_id.removeprefix(PREFIX).partition(":")
    known = not name or name in names
    if not model_id.startswith(PREFIX) or mode_part not in mode_names() or not known:
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
        400: {
            "model": ErrorResponse,
            "description": "A parameter docchat does not support (`n` > 1, a required "
            "`tool_choice`, a `response_format` other than text; `param` names it), or a Host "
            "header naming a server this is not.",
        },
    },
)
async def chat_completions(
    body: CompletionRequest, request: Request, workspace: WorkspaceDep, owner: OwnerDep
) -> Any:
    """The answer to the last user message, the earlier messages being the conversation."""
    body.refuse_unsupported()
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
    asked = Question(
        text=question,
        session_id=body.session_id,
        owner=owner,
        mode=mode,
        model=model,
        options=options,
        history=history,
    )
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if not body.stream:
        answer = await anyio.to_thread.run_sync(workspace.ask, asked)
        return _completion(completion_id, body.model, answer)
    pump = Pump(lambda cancel: workspace.ask_stream(asked, cancel=cancel))
    first = await anyio.to_thread.run_sync(pump.next)
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    encode = _chunk_encoder(completion_id, body.model, include_usage=include_usage)
    chunks = sse_stream(first, pump, request, encode=encode)
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


def _chunk_encoder(completion_id: str, model: str, *, include_usage: bool = False) -> Any:
    created = int(time.time())
    role_sent = False

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        # delta None: the usage chunk, which has no choice at all.
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            **({"usage": None} if include_usage else {}),
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()

    def role() -> bytes:
        # OpenAI's first chunk names the role; the SDK's stream helper takes the message's role
        # from it (without it the assembled message had role None).
        nonlocal role_sent
        if role_sent:
            return b""
        role_sent = True
        return chunk({"role": "assistant", "content": ""})

    def encode(event: AnswerEvent) -> bytes:
        if isinstance(event, TokenEvent):
            return role() + chunk({"content": event.text})
        if isinstance(event, DoneEvent):
            answer = event.answer
            if not include_usage:  # usage rides on the last chunk, as docchat always sent it
                last = chunk({}, "stop", usage=_usage(answer), **_extras(answer))
            else:
                last = chunk({}, "stop", **_extras(answer)) + chunk(None, usage=_usage(answer))
            return role() + last + b"data: [DONE]\n\n"
        if isinstance(event, ErrorEvent):
            error = {"error": {"code": event.code, "message": event.message}}
            return f"data: {json.dumps(error)}\n\ndata: [DONE]\n\n".encode()
        return b""  # retrieval and progress have no OpenAI equivalent

    return encode
