"""Sessions to and from files: the classic ``<session_id>.json`` format, and Markdown.

The classic file holds ``messages``, ``settings``, ``created_at`` and ``updated_at`` (ISO 8601
strings); docchat adds ``session_id``, ``title`` and ``owner``. Files are written atomically
(temporary file, fsync, rename), so a crash leaves either the old file or the new one, never a
truncated one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from docchat.errors import InvalidInput
from docchat.sessions.types import ChatSession, Role

FORMAT_VERSION = 1


def _to_utc(value: dt.datetime | None) -> dt.datetime | None:
    # Older files wrote naive local times; read them as this machine's local time.
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(dt.UTC)


class ClassicMessage(BaseModel):
    """A message as the classic file stores it."""

    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str
    timestamp: dt.datetime | None = None
    metadata: dict[str, Any] | None = None
    references: list[Any] | None = None

    _utc = field_validator("timestamp")(_to_utc)


class ClassicSession(BaseModel):
    """The whole classic file."""

    model_config = ConfigDict(extra="ignore")

    session_id: str | None = None
    title: str = ""
    owner: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    settings: dict[str, Any] = Field(default_factory=dict)
    messages: list[ClassicMessage] = Field(default_factory=list)

    _utc = field_validator("created_at", "updated_at")(_to_utc)


def to_classic(session: ChatSession) -> dict[str, Any]:
    """The classic JSON document of a session loaded with its messages."""
    if session.messages is None:
        raise ValueError("session must be loaded with include_messages=True")
    return {
        "format_version": FORMAT_VERSION,
        "session_id": session.id,
        "title": session.title,
        "owner": session.owner,
        "created_at": session.created_at.isoformat(),
        "updated_at": session.updated_at.isoformat(),
        "settings": session.settings.to_json(),
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "timestamp": m.created_at.isoformat(),
                "metadata": m.metadata,
                "references": m.references,
            }
            for m in session.messages
        ],
    }


def write_atomically(path: Path, data: str) -> None:
    """Replace ``path`` with ``data`` so that readers (and crashes) see old or new, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_classic(path: Path) -> ClassicSession:
    """Parse a classic session file; a damaged one raises InvalidInput naming the file."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"session file {path.name!r} does not exist", field="path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"session file {path.name!r} cannot be read", field="path") from exc
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"session file {path.name!r} is not valid JSON (line {exc.lineno}, column {exc.colno});"
            " it may be truncated",
            field="path",
        ) from exc
    try:
        return ClassicSession.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise InvalidInput(
            f"session file {path.name!r} is not a docchat session: {where}: {first['msg']}",
            field="path",
        ) from exc


def to_markdown(session: ChatSession) -> str:
    """A readable Markdown transcript, references listed under each answer."""
    if session.messages is None:
        raise ValueError("session must be loaded with include_messages=True")
    lines = [
        f"# {session.title or 'Chat ' + session.id}",
        "",
        f"- Session: `{session.id}`",
        f"- Created: {session.created_at.isoformat()}",
        f"- Updated: {session.updated_at.isoformat()}",
        f"- Mode: {session.settings.mode}"
        + (f", model: {session.settings.model}" if session.settings.model else ""),
        "",
    ]
    for m in session.messages:
        lines += [f"## {m.role.capitalize()} · {m.created_at.isoformat()}", "", m.content, ""]
        for i, ref in enumerate(m.references or [], 1):
            lines.append(f"{i}. {_describe_reference(ref)}")
        if m.references:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _describe_reference(ref: Any) -> str:
    if not isinstance(ref, dict):
        return json.dumps(ref, ensure_ascii=False)
    name = ref.get("document") or ref.get("file_name") or ref.get("source") or "source"
    parts = [str(name)]
    if ref.get("page") is not None:
        parts.append(f"p. {ref['page']}")
    if ref.get("section"):
        parts.append(str(ref["section"]))
    text = ", ".join(parts)
    snippet = ref.get("snippet") or ref.get("text")
    return f"{text}: “{snippet}”" if snippet else text
