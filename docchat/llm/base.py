"""The seam every language model sits behind: ``ChatModel``.

A model streams a reply as ``TextDelta`` events and ends with one ``Usage``.  The chat engine stops
a reply by closing the iterator (a client went away, a budget ran out, a turn was cancelled): an
implementation must release its connection or compute when its generator is closed.  Failures of
any kind (refused, 401, 429, 5xx, timeout, context overflow) surface as ``ProviderError`` naming
the model; nothing else escapes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

ChatRole = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a prompt."""

    role: ChatRole
    content: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of the reply."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens the call consumed (as the server counted them, or estimated when it does not say)."""

    prompt_tokens: int
    completion_tokens: int


ModelEvent = TextDelta | Usage


@runtime_checkable
class ChatModel(Protocol):
    """A generative model that answers a list of messages."""

    #: The configured name (what ``settings.model`` and ``GET /api/models`` use).
    name: str
    #: Tokens the model reads and writes in one call, prompt and reply together.
    context_window: int

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
    ) -> Iterator[ModelEvent]:
        """Text deltas of the reply, then one ``Usage``; raises ``ProviderError``."""
        ...

    def count_tokens(self, text: str) -> int:
        """About how many tokens ``text`` is for this model (never an underestimate by much)."""
        ...

    def close(self) -> None:
        """Release connections or loaded weights."""
        ...


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate that errs high: about 3.5 characters a token for English prose
    with BPE vocabularies of 32k-150k pieces, more for code, digits and other scripts."""
    return max(1, (len(text) * 2 + 6) // 7)
