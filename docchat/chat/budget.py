"""Fitting a prompt into a model's context window.

The reply's tokens are reserved first, then the system prompt and the question, which must fit.
Passages come next, best first, each whole or not at all (a passage cut mid-way could cut off
the sentence a citation needs); memory takes what is left, newest exchanges first.  What was left
out is reported, so the answer's metadata can say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from docchat.errors import ContextLengthExceeded
from docchat.llm.base import ChatMessage

#: Tokens kept free for the chat template's own markup around each message.
PER_MESSAGE_OVERHEAD = 8
#: The blank line between two passages.
PASSAGE_SEPARATOR_TOKENS = 2


@dataclass(frozen=True, slots=True)
class Fitted:
    """What goes into the prompt."""

    passages: list[int]  # indexes into the given passages, in their order
    memory: list[ChatMessage]
    dropped_passages: list[int] = field(default_factory=list)
    dropped_memory_messages: int = 0
    prompt_tokens: int = 0


def fit(
    *,
    window: int,
    reply_tokens: int,
    fixed: Sequence[str],
    passages: Sequence[str],
    memory: Sequence[ChatMessage],
    count: Callable[[str], int],
) -> Fitted:
    """Choose passages (best first, whole) and memory (newest first) that fit ``window``.

    ``fixed`` is what must go in (system prompt, question, the passage frame); ``passages`` are
    the rendered passages, best first.
    """
    budget = window - reply_tokens - sum(count(t) + PER_MESSAGE_OVERHEAD for t in fixed)
    if budget < 0:
        raise _too_long(window, reply_tokens)
    kept: list[int] = []
    dropped: list[int] = []
    for i, text in enumerate(passages):
        cost = count(text) + PASSAGE_SEPARATOR_TOKENS
        if cost <= budget:
            kept.append(i)
            budget -= cost
        else:
            dropped.append(i)
    memory_kept: list[ChatMessage] = []
    for message in reversed(memory):
        cost = count(message.content) + PER_MESSAGE_OVERHEAD
        if cost > budget:
            break
        memory_kept.append(message)
        budget -= cost
    memory_kept.reverse()
    # Keep exchanges whole: a reply without its question misleads.
    if memory_kept and memory_kept[0].role == "assistant":
        memory_kept = memory_kept[1:]
    used = window - reply_tokens - budget
    return Fitted(kept, memory_kept, dropped, len(memory) - len(memory_kept), used)


def ensure_fits(
    *, window: int, reply_tokens: int, messages: Sequence[ChatMessage], count: Callable[[str], int]
) -> None:
    """Refuse (``ContextLengthExceeded``) a prompt that leaves the model no room to reply: a
    server sent one answers with an error, or (llama.cpp's) with an empty stream."""
    if sum(count(m.content) + PER_MESSAGE_OVERHEAD for m in messages) + reply_tokens > window:
        raise _too_long(window, reply_tokens)


def _too_long(window: int, reply_tokens: int) -> ContextLengthExceeded:
    return ContextLengthExceeded(
        f"the question and instructions need more than the model's {window}-token window "
        f"(with {reply_tokens} tokens kept for the answer): shorten them or use a model "
        "with a larger window"
    )
