"""Sessions as Word documents: each message under a heading, and under each answer its
references with the quoted span that supports them.

Written with python-docx from its default template, so Word, LibreOffice and Google Docs open the
file with their own fonts: any script the reader's fonts cover shows (unlike the PDF export, which
embeds one font).  Only what XML cannot hold is dropped (``export.printable``).
"""

from __future__ import annotations

import io

import docx
from docx.shared import Pt, RGBColor

from docchat.sessions.export import printable, reference_views
from docchat.sessions.types import ChatSession

_GREY = RGBColor(0x55, 0x55, 0x55)


def to_docx(session: ChatSession) -> bytes:
    """The session as a .docx file's bytes."""
    if session.messages is None:
        raise ValueError("session must be loaded with include_messages=True")
    document = docx.Document()
    title = printable(session.title or f"Chat {session.id}")
    document.core_properties.title = title[:255]
    document.core_properties.author = "docchat"
    document.add_heading(title, level=0)
    mode = session.settings.mode + (
        f", model: {session.settings.model}" if session.settings.model else ""
    )
    facts = document.add_paragraph()
    for line in (
        f"Session: {session.id}",
        f"Created: {session.created_at.isoformat()}",
        f"Updated: {session.updated_at.isoformat()}",
        f"Mode: {printable(mode)}",
    ):
        run = facts.add_run(line)
        run.font.size = Pt(9)
        run.font.color.rgb = _GREY
        run.add_break()
    for message in session.messages:
        heading = f"{message.role.capitalize()} · {message.created_at.isoformat()}"
        document.add_heading(heading, level=2)
        for block in printable(message.content).split("\n\n"):
            paragraph = document.add_paragraph()
            for i, line in enumerate(block.split("\n")):
                if i:
                    paragraph.add_run().add_break()
                paragraph.add_run(line)
        references = reference_views(message.references)
        if references:
            document.add_heading("References", level=3)
        for ref in references:
            entry = document.add_paragraph()
            entry.add_run(f"[{ref.number}] ").bold = True
            entry.add_run(printable(ref.label))
            if ref.quote:
                quote = document.add_paragraph(style="Quote")
                quote.add_run(printable(ref.quote))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
