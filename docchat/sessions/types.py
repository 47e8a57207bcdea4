"""Public value types of chat sessions: what the library returns and the API serialises."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The settings models live in docchat.options (retrieval reads them too); re-exported here.
from docchat.options import (
    MAX_FILTER_ENTRIES,
    MAX_KEYWORDS,
    ChatMode,
    ChatOptions,
    ChatSettings,
    FilterEntry,
    Keyword,
    SourceFilters,
    StoredSettings,
)

__all__ = [
    "MAX_FILTER_ENTRIES",
    "MAX_KEYWORDS",
    "ROLES",
    "ChatMode",
    "ChatOptions",
    "ChatSession",
    "ChatSettings",
    "FilterEntry",
    "Keyword",
    "Message",
    "MessageHit",
    "Role",
    "SessionPage",
    "SourceFilters",
    "StoredSettings",
]

Role = Literal["user", "assistant", "system", "tool"]
ROLES: tuple[str, ...] = ("user", "assistant", "system", "tool")


class Message(BaseModel):
    """One message of a chat session."""

    model_config = ConfigDict(frozen=True)

    id: int
    session_id: str
    position: int = Field(description="Strictly increasing within the session.")
    role: Role
    content: str
    created_at: dt.datetime
    metadata: dict[str, Any] | None = Field(
        None,
        description="Free-form.  An answer being written has `status: streaming` (its text so "
        "far); one whose server stopped mid-answer `status: interrupted`; both `partial: true`.",
    )
    references: list[Any] | None = None


class ChatSession(BaseModel):
    """A chat session; ``messages`` is filled only when asked for (it can be long)."""

    model_config = ConfigDict(frozen=True)

    id: str
    owner: str | None
    title: str
    created_at: dt.datetime
    updated_at: dt.datetime
    settings: ChatSettings
    message_count: int
    messages: list[Message] | None = None


class SessionPage(BaseModel):
    """One page of a session listing; pass ``next_cursor`` back for the next page."""

    items: list[ChatSession]
    next_cursor: str | None


class MessageHit(BaseModel):
    """A message found by full-text search."""

    message: Message
    session_title: str
    snippet: str
    score: float = Field(description="Higher is better.")
