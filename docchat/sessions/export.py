"""Sessions to and from files: the classic ``<session_id>.json`` format, and Markdown.

The classic file holds ``messages``, ``settings``, ``created_at`` and ``updated_at`` (ISO 8601
strings); docchat adds ``session_id``, ``title`` and ``owner``. Files are written atomically
(temporary file, fsync, rename), so a crash leaves either the old file or the new one, never a
truncated one.  Word and PDF transcripts (``export_docx``, ``export_pdf``) list references as the
Markdown one does, through ``reference_views``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from dataclasses import dataclass
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
    """A readable Markdown transcript; under each answer its references, each with the quoted
    span that supports it as a blockquote."""
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
        note = unfinished_note(m.metadata)
        if note:
            lines += [f"*({note})*", ""]
        for ref in reference_views(m.references):
            lines.append(f"{ref.number}. {ref.label}")
            if ref.quote:
                lines += [f"   > {line}".rstrip() for line in ref.quote.splitlines()]
        if m.references:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def unfinished_note(metadata: dict[str, Any] | None) -> str | None:
    """What a transcript says under an answer stored as it streamed and never finished: cut off
    by a server that stopped, or still being written when exported."""
    status = (metadata or {}).get("status")
    if status == "interrupted":
        return "interrupted: the server stopped before this answer was finished"
    if status == "streaming":
        return "still being written when this transcript was made"
    return None


@dataclass(frozen=True, slots=True)
class ReferenceView:
    """A stored reference as a transcript shows it (Markdown, Word, PDF)."""

    number: int  # its [n] in the answer, or its place in the list
    label: str  # "handbook.pdf, p. 4, Leave > Accrual", or a web page's title and address
    quote: str | None  # the supporting span's text (else the passage's snippet)


def reference_views(references: list[Any] | None) -> list[ReferenceView]:
    """The references of a message as transcripts list them.

    References are free-form for classic callers (``add_message_to_session``); the engine writes
    ``docchat.chat.types.Citation`` dicts.  Anything that is not a dict is shown as JSON.
    """
    views = []
    for i, ref in enumerate(references or [], 1):
        if not isinstance(ref, dict):
            views.append(ReferenceView(i, json.dumps(ref, ensure_ascii=False), None))
            continue
        n = ref.get("n")
        number = n if isinstance(n, int) and not isinstance(n, bool) else i
        quote = next((ref[k] for k in ("quote", "snippet", "text") if _text(ref.get(k))), None)
        views.append(ReferenceView(number, _label(ref), quote))
    return views


# What XML 1.0 (and so a .docx) cannot hold, and what a PDF line cannot show: C0 controls other
# than tab and newline, lone surrogates, and the two non-characters U+FFFE and U+FFFF.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` without the characters a Word or PDF transcript cannot hold (carriage returns
    become line breaks)."""
    return _UNPRINTABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _label(ref: dict[str, Any]) -> str:
    if ref.get("kind") == "web" or (ref.get("url") and not ref.get("document_id")):
        title, url = ref.get("title"), ref.get("url")
        return " ".join(str(x) for x in (title, f"<{url}>" if url else None) if x) or "web page"
    name = ref.get("document") or ref.get("file_name") or ref.get("source") or "source"
    parts = [str(name)]
    if ref.get("page") is not None:
        parts.append(f"p. {ref['page']}")
    if ref.get("section"):
        parts.append(str(ref["section"]))
    return ", ".join(parts)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
