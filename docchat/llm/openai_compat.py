"""A model behind any OpenAI-compatible `/v1/chat/completions` server, via the official client.

One provider covers vLLM, Ollama, llama.cpp's server, LM Studio, LiteLLM, OpenAI, Azure OpenAI and
the OpenAI-compatible endpoints of other vendors.  Retries with backoff are the client's own
(``max_retries``: refused connections, timeouts, 408/409/429 and 5xx, ``Retry-After`` honoured up to
two minutes).  Usage comes from the server when it honours ``stream_options.include_usage`` and is
estimated otherwise (llama-cpp-python's server ignores the option).  Parameters that some servers
refuse (that option, ``max_tokens`` on OpenAI's reasoning models, a temperature on models with a
fixed one) are dropped or renamed after the first refusal, for the rest of the model's life.

Every failure becomes a ``ProviderError`` naming the model, with a ``kind``.  Messages never quote
the server (its text may echo the prompt or internals) and never carry the key.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, cast
from urllib.parse import urlsplit

import openai
from pydantic import SecretStr

from docchat.errors import ProviderError, ProviderErrorKind
from docchat.llm.base import ChatMessage, ModelEvent, TextDelta, Usage, estimate_tokens

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

    from docchat.config import ModelSettings

# How servers say that the prompt does not fit, as of 2026: OpenAI ("This model's maximum context
# length is N tokens..." / "Your input exceeds the context window of this model", code
# context_length_exceeded), llama-cpp-python and vLLM (OpenAI's first wording; newer vLLM: "... is
# longer than the maximum model length"), llama.cpp's llama-server ("request (N tokens) exceeds the
# available context size (M tokens)", type exceed_context_size_error), and assorted proxies
# ("prompt is too long", "too many tokens").
_OVERFLOW_WORDING = re.compile(
    r"context (length|window|size)|maximum context|max_model_len|maximum model length"
    r"|too many tokens|(prompt|input|messages?|request) (is )?too long|too long to fit",
    re.IGNORECASE,
)
_OVERFLOW_CODES = frozenset(
    {"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"}
)
# Tokens a chat template adds around each message (role markers, separators) and around the reply.
_PER_MESSAGE_TOKENS = 4
_PER_PROMPT_TOKENS = 3


class _Unreadable(Exception):
    """A stream chunk that is not a chat completion chunk."""


@dataclass(frozen=True, slots=True)
class _Dialect:
    """The optional parameters a server accepts, learnt from its refusals."""

    #: ``stream_options.include_usage`` (llama-cpp-python ignores it; older Azure refuses it).
    usage: bool = True
    #: OpenAI's reasoning models refuse ``max_tokens`` and want ``max_completion_tokens``, which
    #: llama-cpp-python's server does not know: the old name first.
    limit_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    #: Some reasoning models accept only their default temperature.
    temperature: bool = True

    def adapted_to(self, refusal: str) -> _Dialect | None:
        """The dialect that avoids what ``refusal`` (a 400's text) objects to; None if none."""
        lowered = refusal.lower()
        if self.usage and "stream_options" in lowered:
            return replace(self, usage=False)
        if not any(w in lowered for w in ("unsupported", "not supported", "only the default")):
            return None
        if self.limit_field == "max_tokens" and "max_completion_tokens" in lowered:
            return replace(self, limit_field="max_completion_tokens")
        if self.temperature and "temperature" in lowered:
            return replace(self, temperature=False)
        return None


@dataclass(frozen=True, slots=True)
class _Request:
    messages: list[ChatMessage]
    temperature: float
    max_tokens: int
    stop: list[str]


def shown_url(url: str) -> str:
    """``url`` as a message may show it: scheme, host, port and path, never credentials or a query
    (some gateways take the key as ``?api-key=``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the configured base_url"
    return f"{parts.scheme}://{host}{port}{parts.path}" if host else "the configured base_url"


class OpenAICompatibleModel:
    """A ``ChatModel`` served by an OpenAI-compatible server.

    Thread-safe: the client's connection pool is shared, each ``stream()`` is its own request.
    Closing a reply's iterator early closes its HTTP stream (the server sees the disconnect and
    stops generating).  ``close()`` releases the connections.
    """

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        model: str | None = None,
        api_key: SecretStr | str | None = None,
        context_window: int = 4096,
        max_output_tokens: int = 512,
        temperature: float = 0.2,
        timeout_s: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        if max_output_tokens >= context_window:
            raise ValueError("max_output_tokens must be smaller than context_window")
        self.name = name
        self.model = model or name
        self.base_url = base_url
        self.context_window = context_window
        self.max_output_tokens = max_output_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._has_key = api_key is not None
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        # Servers on one's own machine ignore the key, but the client refuses to start without one
        # (and would read OPENAI_API_KEY: settings are read once, by docchat).
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=key or "not-needed",
            timeout=timeout_s,
            max_retries=max_retries,
        )
        self._dialect = _Dialect()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, name: str, settings: ModelSettings) -> OpenAICompatibleModel:
        """The model that ``settings`` (provider ``openai``) configure under ``name``."""
        if settings.base_url is None:
            raise ValueError("base_url is required for provider 'openai'")
        return cls(
            name,
            base_url=settings.base_url,
            model=settings.model,
            api_key=settings.api_key,
            context_window=settings.effective_context_window,
            max_output_tokens=settings.max_output_tokens,
            temperature=settings.temperature,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleModel({self.name!r}, model={self.model!r}, base_url={self._where})"

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
    ) -> Iterator[ModelEvent]:
        """Text deltas of the reply, then one ``Usage``; raises ``ProviderError``.

        The request is sent on the first ``next()``.
        """
        request = _Request(
            messages=list(messages),
            temperature=self.temperature if temperature is None else temperature,
            max_tokens=self.max_output_tokens if max_tokens is None else max_tokens,
            stop=list(stop),
        )
        return self._stream(request)

    def count_tokens(self, text: str) -> int:
        """About how many tokens ``text`` is (an estimate that errs high: servers do not say)."""
        return estimate_tokens(text)

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def __enter__(self) -> OpenAICompatibleModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return shown_url(self.base_url)

    def _stream(self, request: _Request) -> Iterator[ModelEvent]:
        messages, limit = request.messages, request.max_tokens
        response = self._open(request)
        received: list[str] = []
        usage: Usage | None = None
        finished = False
        try:
            for chunk in response:
                text, chunk_usage, finish = _read_chunk(chunk)
                usage = chunk_usage or usage
                finished = finished or finish
                if text:
                    received.append(text)
                    yield TextDelta(text)
        except (openai.OpenAIError, _Unreadable, ValueError) as exc:
            raise self._stream_error(exc, messages, limit, replying=bool(received)) from exc
        finally:
            # Also on GeneratorExit: the caller stopped reading, so stop the server generating.
            response.close()
        if not finished:
            if not received and self._overflows(messages, limit):
                raise self._overflow_error()
            raise self._error(
                "interrupted" if received else "bad_response",
                f"{self._what} ended the reply before it was complete"
                if received
                else f"{self._what} ended the stream without a reply",
            )
        if usage is None:
            usage = Usage(
                prompt_tokens=self._prompt_tokens(messages),
                completion_tokens=estimate_tokens("".join(received)) if received else 0,
            )
        yield usage

    def _open(self, request: _Request) -> openai.Stream[ChatCompletionChunk]:
        with self._lock:
            dialect = self._dialect
        try:
            while True:  # at most once per parameter of _Dialect: each can only be given up
                try:
                    return self._create(request, dialect)
                except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                    adapted = None if _is_overflow(exc) else dialect.adapted_to(_error_text(exc))
                    if adapted is None:
                        raise
                # The server refused a parameter it may not know: ask again without it, and so
                # from now on.
                dialect = adapted
                with self._lock:
                    self._dialect = adapted
        except openai.APITimeoutError as exc:
            raise self._timeout_error() from exc
        except openai.APIConnectionError as exc:
            raise self._error("unavailable", f"{self._what} could not be reached") from exc
        except openai.APIStatusError as exc:
            raise self._status_error(exc, request.messages, request.max_tokens) from exc
        except openai.OpenAIError as exc:
            raise self._error("error", f"{self._what} could not be asked") from exc

    def _create(self, request: _Request, dialect: _Dialect) -> openai.Stream[ChatCompletionChunk]:
        messages = [
            cast("ChatCompletionMessageParam", {"role": m.role, "content": m.content})
            for m in request.messages
        ]
        completion_limit = dialect.limit_field == "max_completion_tokens"
        return self._client.chat.completions.create(
            model=self.model,
            messages=messages,
            temperature=request.temperature if dialect.temperature else openai.omit,
            max_tokens=openai.omit if completion_limit else request.max_tokens,
            max_completion_tokens=request.max_tokens if completion_limit else openai.omit,
            stop=request.stop or openai.omit,
            stream=True,
            stream_options={"include_usage": True} if dialect.usage else openai.omit,
        )

    @property
    def _what(self) -> str:
        return f"model {self.name!r} at {self._where}"

    def _error(self, kind: ProviderErrorKind, message: str) -> ProviderError:
        return ProviderError(message, kind=kind, model=self.name)

    def _timeout_error(self) -> ProviderError:
        return self._error("timeout", f"{self._what} did not answer within {self.timeout_s:g} s")

    def _overflow_error(self) -> ProviderError:
        return self._error(
            "context_overflow",
            f"the prompt is too long for model {self.name!r} (its context window is "
            f"{self.context_window} tokens, prompt and reply together)",
        )

    def _status_error(
        self, exc: openai.APIStatusError, messages: Sequence[ChatMessage], limit: int
    ) -> ProviderError:
        status = exc.status_code
        if status in (401, 403):
            hint = "the configured api_key" if self._has_key else "requests without an api_key"
            return self._error("auth", f"{self._what} refused {hint} (HTTP {status})")
        if status == 429:
            return self._error(
                "rate_limited",
                f"{self._what} is limiting requests (HTTP 429), still after "
                f"{self.max_retries} retries; try again later",
            )
        if status in (400, 413, 422) and _is_overflow(exc):
            return self._overflow_error()
        if status == 413 and self._overflows(messages, limit):
            return self._overflow_error()
        if status == 404:
            return self._error(
                "rejected",
                f"{self._what} answered HTTP 404: check base_url and the model id {self.model!r}",
            )
        if 400 <= status < 500:
            return self._error("rejected", f"{self._what} refused the request (HTTP {status})")
        return self._error("server_error", f"{self._what} failed (HTTP {status})")

    def _stream_error(
        self,
        exc: Exception,
        messages: Sequence[ChatMessage],
        limit: int,
        *,
        replying: bool,
    ) -> ProviderError:
        if isinstance(exc, openai.APITimeoutError):
            return self._timeout_error()
        if isinstance(exc, openai.APIConnectionError):
            # llama-cpp-python's server answers 200, then finds the prompt too long and drops
            # the connection: a stream that breaks before its first chunk on a prompt estimated
            # too long is that.
            if not replying and self._overflows(messages, limit):
                return self._overflow_error()
            return self._error("interrupted", f"the connection to {self._what} broke mid-reply")
        if isinstance(exc, openai.APIError):
            # An error event inside the stream (vLLM, LiteLLM and others report late errors so).
            if _is_overflow(exc):
                return self._overflow_error()
            return self._error("server_error", f"{self._what} reported an error mid-reply")
        return self._error("bad_response", f"{self._what} sent a reply that could not be read")

    def _prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return _PER_PROMPT_TOKENS + sum(
            self.count_tokens(m.content) + _PER_MESSAGE_TOKENS for m in messages
        )

    def _overflows(self, messages: Sequence[ChatMessage], limit: int) -> bool:
        return self._prompt_tokens(messages) + limit > self.context_window


def _error_text(exc: openai.APIError) -> str:
    return f"{exc.message} {exc.body!s}"


def _is_overflow(exc: openai.APIError) -> bool:
    if exc.code in _OVERFLOW_CODES or getattr(exc, "type", None) in _OVERFLOW_CODES:
        return True
    return _OVERFLOW_WORDING.search(_error_text(exc)) is not None


def _read_chunk(chunk: object) -> tuple[str, Usage | None, bool]:
    """The text, usage and whether the reply finished, from one streamed chunk.

    The client builds chunks without validating them, so a server that sends nonsense yields
    objects with missing or wrongly typed fields: everything is checked.
    """
    choices = getattr(chunk, "choices", None)
    if not isinstance(choices, list):
        raise _Unreadable("no choices")
    text = ""
    finished = False
    for choice in choices[:1]:
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None) if delta is not None else None
        if content is not None and not isinstance(content, str):
            raise _Unreadable("content is not text")
        text = content or ""
        reason = getattr(choice, "finish_reason", None)
        if reason is not None and not isinstance(reason, str):
            raise _Unreadable("finish_reason is not text")
        finished = bool(reason)
    usage: Usage | None = None
    reported = getattr(chunk, "usage", None)
    if reported is not None:
        prompt = getattr(reported, "prompt_tokens", None)
        completion = getattr(reported, "completion_tokens", None)
        if isinstance(prompt, int) and isinstance(completion, int):
            usage = Usage(prompt_tokens=max(prompt, 0), completion_tokens=max(completion, 0))
    return text, usage, finished
