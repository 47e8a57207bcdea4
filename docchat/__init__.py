"""docchat: chat with your documents, with citations you can check.

The classic session functions work on a default store opened from the environment (``DOCCHAT_*``);
``SessionStore`` is the class behind them for applications that hold their own, ``Workspace`` the
facade of a whole deployment.

Every name here is imported on first use (module ``__getattr__``, as paper-qa does), so
``import docchat`` and ``docchat --help`` load neither NumPy nor ONNX Runtime nor the document
parsers (tests/test_imports.py).  A new export goes in ``__all__``, ``_EXPORTS`` and the
``TYPE_CHECKING`` imports (tests/test_exported_members.py).
"""

from __future__ import annotations

# Private names: everything public in this module is an export (tests/test_exported_members.py).
import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
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
        Cancelled,
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
    from docchat.options import ChatOptions, ChatSettings, SourceFilters
    from docchat.retrieval.hybrid import Hit
    from docchat.sessions.store import SessionStore
    from docchat.sessions.types import ChatSession, Message, MessageHit, SessionPage
    from docchat.workspace import Workspace

__version__ = "0.1.0"

#: Each exported name, and the module it lives in.
_EXPORTS: dict[str, str] = {
    "Cancelled": "docchat.errors",
    "ChatOptions": "docchat.options",
    "ChatSession": "docchat.sessions.types",
    "ChatSettings": "docchat.options",
    "Conflict": "docchat.errors",
    "CorruptDocument": "docchat.errors",
    "DocchatError": "docchat.errors",
    "DocumentNotFound": "docchat.errors",
    "Hit": "docchat.retrieval.hybrid",
    "InvalidInput": "docchat.errors",
    "Message": "docchat.sessions.types",
    "MessageHit": "docchat.sessions.types",
    "NotFound": "docchat.errors",
    "ProviderError": "docchat.errors",
    "SessionNotFound": "docchat.errors",
    "SessionPage": "docchat.sessions.types",
    "SessionStore": "docchat.sessions.store",
    "Settings": "docchat.config",
    "SourceFilters": "docchat.options",
    "TaskNotFound": "docchat.errors",
    "TooLarge": "docchat.errors",
    "UnsupportedFormat": "docchat.errors",
    "Workspace": "docchat.workspace",
    "add_message_to_session": "docchat.defaults",
    "clear_session": "docchat.defaults",
    "configure": "docchat.defaults",
    "create_chat_session": "docchat.defaults",
    "delete_session": "docchat.defaults",
    "export_session": "docchat.defaults",
    "get_messages": "docchat.defaults",
    "get_or_create_session": "docchat.defaults",
    "get_session": "docchat.defaults",
    "ingest": "docchat.defaults",
    "list_sessions": "docchat.defaults",
    "load_session_from_disk": "docchat.defaults",
    "save_session_to_disk": "docchat.defaults",
    "search": "docchat.defaults",
    "search_messages": "docchat.defaults",
    "update_session_settings": "docchat.defaults",
}

__all__ = [
    "Cancelled",
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


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
