"""A session to and from files: export as JSON, Markdown, Word or PDF; import a classic file.

The formats themselves are in ``export`` (and ``export_docx``, ``export_pdf``); this module checks
an imported file's every message as ``append`` would and writes the session in one transaction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import delete, insert

from docchat.db import Database
from docchat.errors import Conflict, InvalidInput
from docchat.owners import visible_to
from docchat.sessions.checks import SessionChecks, parse_settings, valid_session_id
from docchat.sessions.export import read_classic, to_classic, to_markdown
from docchat.sessions.models import MessageRow, SessionRow
from docchat.sessions.types import ChatSession

ExportFormat = Literal["json", "markdown"]
#: Formats ``export_file`` writes: the text ones, a Word document and a PDF.
ExportFileFormat = Literal["json", "markdown", "docx", "pdf"]


def export_text(session: ChatSession, format: ExportFormat) -> str:
    """The session (read with its messages) as classic JSON or as a Markdown transcript."""
    if format == "markdown":
        return to_markdown(session)
    return json.dumps(to_classic(session), ensure_ascii=False, indent=2)


def export_document(session: ChatSession, format: Literal["docx", "pdf"], data_dir: Path) -> bytes:
    """The session (read with its messages) as a Word document or a PDF."""
    # Imported here: python-docx and fpdf2 load only when someone exports to them.
    if format == "docx":
        from docchat.sessions.export_docx import to_docx

        return to_docx(session)
    from docchat.sessions.export_pdf import font_cache_dir, to_pdf

    return to_pdf(session, font_cache=font_cache_dir(data_dir))


def import_classic(
    db: Database, checks: SessionChecks, path: Path, *, owner: str | None, replace: bool
) -> tuple[str, str | None]:
    """Import a classic session file, keeping its id, timestamps and message order; returns its
    id and owner (``owner``, else the file's).

    An existing session with that id raises Conflict unless ``replace``.  A damaged file raises
    InvalidInput and changes nothing.
    """
    doc = read_classic(path)
    session_id = doc.session_id or path.stem
    if not valid_session_id(session_id):
        raise InvalidInput(f"session file {path.name!r} names an invalid session id", field="path")
    settings = parse_settings(doc.settings)
    title = checks.title(doc.title)
    owner = owner if owner is not None else doc.owner
    rows: list[dict[str, Any]] = []
    for i, m in enumerate(doc.messages):
        try:
            checks.content(m.role, m.content)
            metadata = checks.json(m.metadata, "metadata", dict)
            references = checks.json(m.references, "references", list)
        except InvalidInput as exc:
            raise InvalidInput(
                f"session file {path.name!r}, message {i}: {exc.message}", field="path"
            ) from exc
        rows.append(
            {
                "session_id": session_id,
                "position": i,
                "role": m.role,
                "content": m.content,
                "created_at": m.timestamp or doc.created_at,
                "meta": metadata,
                "references": references,
            }
        )
    with db.write() as s:
        existing = s.get(SessionRow, session_id)
        if existing is not None:
            if not replace or not visible_to(existing.owner, owner):
                raise Conflict(f"chat session {session_id!r} already exists")
            s.execute(delete(MessageRow).where(MessageRow.session_id == session_id))
            s.delete(existing)
            s.flush()
        row = SessionRow(
            id=session_id,
            owner=owner,
            title=title,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            settings=settings.to_json(),
            message_count=len(rows),
            next_position=len(rows),
        )
        s.add(row)
        s.flush()
        if rows:
            s.execute(insert(MessageRow), rows)
    return session_id, owner
