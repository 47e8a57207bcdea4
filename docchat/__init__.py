"""docchat: chat with your documents, with citations you can check.

The classic session functions work on a default store opened from the environment (``DOCCHAT_*``);
``SessionStore`` is the class behind them for applications that hold their own.
"""

from docchat.config import Settings
from docchat.defaults import (
    add_message_to_session,
    clear_session,
    configure,
    create_chat_session,
    delete_session,
    export_session,
    get_messages,
    get_or_create_session,
    get_session,
    ingest,
    list_sessions,
    load_session_from_disk,
    save_session_to_disk,
    search,
    search_messages,
    update_session_settings,
)
from docchat.errors import (
    Conflict,
    CorruptDocument,
    DocchatError,
    DocumentNotFound,
    InvalidInput,
    NotFound,
    ProviderError,
    SessionNotFound,
    TaskNotFound,
    TooLarge,
    UnsupportedFormat,
)
from docchat.retrieval.hybrid import Hit
from docchat.sessions.store import SessionStore
from docchat.sessions.types import (
    ChatOptions,
    ChatSession,
    ChatSettings,
    Message,
    MessageHit,
    SessionPage,
    SourceFilters,
)
from docchat.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "ChatOptions",
    "ChatSession",
    "ChatSettings",
    "Conflict",
    "CorruptDocument",
    "DocchatError",
    "DocumentNotFound",
    "Hit",
    "InvalidInput",
    "Message",
    "MessageHit",
    "NotFound",
    "ProviderError",
    "SessionNotFound",
    "SessionPage",
    "SessionStore",
    "Settings",
    "SourceFilters",
    "TaskNotFound",
    "TooLarge",
    "UnsupportedFormat",
    "Workspace",
    "__version__",
    "add_message_to_session",
    "clear_session",
    "configure",
    "create_chat_session",
    "delete_session",
    "export_session",
    "get_messages",
    "get_or_create_session",
    "get_session",
    "ingest",
    "list_sessions",
    "load_session_from_disk",
    "save_session_to_disk",
    "search",
    "search_messages",
    "update_session_settings",
]
