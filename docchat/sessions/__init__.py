"""Chat sessions and their messages."""

from docchat.sessions.store import SessionStore
from docchat.sessions.types import (
    ChatMode,
    ChatOptions,
    ChatSession,
    ChatSettings,
    Message,
    MessageHit,
    SessionPage,
    SourceFilters,
)

__all__ = [
    "ChatMode",
    "ChatOptions",
    "ChatSession",
    "ChatSettings",
    "Message",
    "MessageHit",
    "SessionPage",
    "SessionStore",
    "SourceFilters",
]
