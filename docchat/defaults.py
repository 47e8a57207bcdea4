"""The module-level library functions, each a thin wrapper over one default ``Workspace``.

The default workspace is opened on first use from ``Settings()`` (the environment).  Applications
that hold their own workspaces (the HTTP app does) never touch it; scripts can point it elsewhere
with ``configure``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from docchat.chat.types import Answer
from docchat.config import Settings
from docchat.documents.ingest import IngestProgress, ProgressCallback
from docchat.documents.registry import DEFAULT_COLLECTION
from docchat.options import ChatMode, ChatOptions, ChatSettings, SourceFilters
from docchat.retrieval.hybrid import Hit
from docchat.sessions.store import ExportFormat, SessionStore
from docchat.sessions.types import ChatSession, Message, MessageHit, SessionPage
from docchat.workspace import Workspace

_lock = threading.Lock()
_workspace: Workspace | None = None


def configure(settings: Settings | None = None, *, workspace: Workspace | None = None) -> Workspace:
    """Make ``workspace`` (or a new one opened from ``settings``) the default; returns it."""
    global _workspace
    new = workspace if workspace is not None else Workspace(settings or Settings())
    with _lock:
        old, _workspace = _workspace, new
    if old is not None and old is not new:
        old.close()
    return new


def default_workspace() -> Workspace:
    """The default workspace, opened from the environment on first use."""
    global _workspace
    current = _workspace
    if current is not None:
        return current
    with _lock:  # held once, while the first caller opens the database
        if _workspace is None:
            _workspace = Workspace(Settings())
        return _workspace


def default_store() -> SessionStore:
    """The default workspace's session store."""
    return default_workspace().sessions


def create_chat_session(
    owner: str | None = None,
    title: str | None = None,
    settings: ChatSettings | dict[str, Any] | None = None,
) -> ChatSession:
    """Create an empty chat session; an unknown ``settings.model`` is InvalidInput."""
    return default_workspace().create_session(owner=owner, title=title, settings=settings)


def get_session(session_id: str, include_messages: bool = False) -> ChatSession:
    """The session; raises SessionNotFound for an unknown id."""
    return default_store().get(session_id, include_messages=include_messages)


def get_or_create_session(session_id: str, owner: str | None = None) -> ChatSession:
    """The session with this id, created empty if it does not exist."""
    return default_store().get_or_create(session_id, owner=owner)


def add_message_to_session(
    session_id: str,
    role: str,
    content: str,
    metadata: dict[str, Any] | None = None,
    references: list[Any] | None = None,
) -> Message:
    """Append a message; returns once it is durable.  Unknown session: SessionNotFound."""
    return default_store().append(session_id, role, content, metadata, references)


def update_session_settings(
    session_id: str, settings: ChatSettings | dict[str, Any]
) -> ChatSession:
    """Replace the given settings keys (``model``, ``mode``, ``options``); an unknown model or
    mode is InvalidInput naming the known ones."""
    return default_workspace().update_session_settings(session_id, settings)


def clear_session(session_id: str) -> int:
    """Delete the session's messages, keep the session; returns how many were deleted."""
    return default_store().clear(session_id)


def delete_session(session_id: str) -> None:
    """Delete the session and all its messages."""
    default_store().delete(session_id)


def list_sessions(
    owner: str | None = None, limit: int = 50, cursor: str | None = None, offset: int = 0
) -> SessionPage:
    """Sessions, most recently updated first."""
    return default_store().list(owner=owner, limit=limit, cursor=cursor, offset=offset)


def get_messages(
    session_id: str,
    limit: int | None = None,
    before: int | None = None,
    after: int | None = None,
) -> list[Message]:
    """A session's messages in order, optionally a page of them by position."""
    return default_store().messages(session_id, limit=limit, before=before, after=after)


def search_messages(query: str, owner: str | None = None, limit: int = 20) -> list[MessageHit]:
    """Full-text search over message content."""
    return default_store().search(query, owner=owner, limit=limit)


def export_session(session_id: str, format: ExportFormat = "json") -> str:
    """The session as classic JSON or Markdown text."""
    return default_store().export(session_id, format)


def save_session_to_disk(session_id: str, directory: str | Path) -> Path:
    """Write ``<directory>/<session_id>.json`` atomically; returns the path."""
    return default_store().save_to_disk(session_id, directory)


def load_session_from_disk(path: str | Path, replace: bool = False) -> ChatSession:
    """Import a classic session file (Conflict if the id exists, unless ``replace``)."""
    return default_store().load_from_disk(path, replace=replace)


def ingest(
    paths: str | Path | list[str | Path],
    collection: str = DEFAULT_COLLECTION,
    progress: ProgressCallback | None = None,
    prune: bool = False,
    follow_symlinks: bool = False,
) -> IngestProgress:
    """Ingest files and folders (incrementally), then embed their chunks; returns the totals.

    A symbolic link in a folder whose target lies outside it is skipped and listed in
    ``skipped``, unless ``follow_symlinks``.
    """
    items = [paths] if isinstance(paths, (str, Path)) else paths
    return default_workspace().ingest(
        items,
        collection=collection,
        progress=progress,
        prune=prune,
        follow_symlinks=follow_symlinks,
    )


def search(
    query: str,
    k: int | None = None,
    filters: SourceFilters | dict[str, Any] | None = None,
    manual_keywords: list[str] | None = None,
    enable_reranking: bool | None = None,
) -> list[Hit]:
    """Hybrid search over the ingested documents."""
    if isinstance(filters, dict):
        filters = SourceFilters.model_validate(filters)
    return default_workspace().search(
        query,
        k=k,
        filters=filters,
        manual_keywords=manual_keywords or (),
        enable_reranking=enable_reranking,
    )


def ask(
    question: str,
    session_id: str | None = None,
    mode: ChatMode | None = None,
    model: str | None = None,
    options: ChatOptions | None = None,
    owner: str | None = None,
) -> Answer:
    """Answer a question from the ingested documents, with citations; in a new session when
    ``session_id`` is None, else as that session's next turn.  Both messages are stored when it
    returns (``Workspace.ask``)."""
    return default_workspace().ask(
        question, session_id=session_id, owner=owner, mode=mode, model=model, options=options
    )
