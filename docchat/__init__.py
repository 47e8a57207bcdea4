"""docchat: chat with your documents, with citations you can check.

The classic session functions, ``ingest``, ``search`` and ``ask`` work on a default workspace opened
from the environment (``DOCCHAT_*``); ``SessionStore`` is the class behind the session functions for
applications that hold their own, ``Workspace`` the facade of a whole deployment.  What they take
and return (the ``Question`` a turn asks, ``Answer`` and its ``Citation``s, ``DocumentInfo``,
``TaskInfo``, ``Hit``) and every error they raise (the ``DocchatError`` tree) are exported here too.

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
    from docchat.chat.types import Answer, Citation, Question
    from docchat.config import Settings
    from docchat.defaults import (
        add_message_to_session,
        ask,
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
    from docchat.documents.registry import DocumentInfo
    from docchat.errors import (
        Busy,
        Cancelled,
        Conflict,
        CorruptDocument,
        DocchatError,
        DocumentNotFound,
        InvalidInput,
        InvalidJSON,
        NotFound,
        OriginalNotStored,
        PageNotFound,
        ProviderError,
        QuotaExceeded,
        SessionNotFound,
        TaskNotFound,
        TooLarge,
        UnsupportedFormat,
        UnsupportedParameter,
    )
    from docchat.options import ChatOptions, ChatSettings, SourceFilters
    from docchat.retrieval.hybrid import Hit
    from docchat.sessions.store import SessionStore
    from docchat.sessions.types import ChatSession, Message, MessageHit, SessionPage
    from docchat.tasks.models import TaskInfo
    from docchat.workspace import Workspace

from docchat._version import __version__

#: Each exported name, and the module it lives in.
_EXPORTS: dict[str, str] = {
    "Answer": "docchat.chat.types",
    "Busy": "docchat.errors",
    "Cancelled": "docchat.errors",
    "ChatOptions": "docchat.options",
    "ChatSession": "docchat.sessions.types",
    "ChatSettings": "docchat.options",
    "Citation": "docchat.chat.types",
    "Conflict": "docchat.errors",
    "CorruptDocument": "docchat.errors",
    "DocchatError": "docchat.errors",
    "DocumentInfo": "docchat.documents.registry",
    "DocumentNotFound": "docchat.errors",
    "Hit": "docchat.retrieval.hybrid",
    "InvalidInput": "docchat.errors",
    "InvalidJSON": "docchat.errors",
    "Message": "docchat.sessions.types",
    "MessageHit": "docchat.sessions.types",
    "NotFound": "docchat.errors",
    "OriginalNotStored": "docchat.errors",
    "PageNotFound": "docchat.errors",
    "ProviderError": "docchat.errors",
    "Question": "docchat.chat.types",
    "QuotaExceeded": "docchat.errors",
    "SessionNotFound": "docchat.errors",
    "SessionPage": "docchat.sessions.types",
    "SessionStore": "docchat.sessions.store",
    "Settings": "docchat.config",
    "SourceFilters": "docchat.options",
    "TaskInfo": "docchat.tasks.models",
    "TaskNotFound": "docchat.errors",
    "TooLarge": "docchat.errors",
    "UnsupportedFormat": "docchat.errors",
    "UnsupportedParameter": "docchat.errors",
    "Workspace": "docchat.workspace",
    "add_message_to_session": "docchat.defaults",
    "ask": "docchat.defaults",
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
    "Answer",
    "Busy",
    "Cancelled",
    "ChatOptions",
    "ChatSession",
    "ChatSettings",
    "Citation",
    "Conflict",
    "CorruptDocument",
    "DocchatError",
    "DocumentInfo",
    "DocumentNotFound",
    "Hit",
    "InvalidInput",
    "InvalidJSON",
    "Message",
    "MessageHit",
    "NotFound",
    "OriginalNotStored",
    "PageNotFound",
    "ProviderError",
    "Question",
    "QuotaExceeded",
    "SessionNotFound",
    "SessionPage",
    "SessionStore",
    "Settings",
    "SourceFilters",
    "TaskInfo",
    "TaskNotFound",
    "TooLarge",
    "UnsupportedFormat",
    "UnsupportedParameter",
    "Workspace",
    "__version__",
    "add_message_to_session",
    "ask",
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
