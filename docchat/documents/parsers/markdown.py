"""Markdown: one unit per section; ATX (``#``) and setext (underlined) headings build the path.

The body keeps its Markdown source, which embeds and reads well; only heading titles lose their
inline markup, since they become section paths.  Lines inside fenced code never count as headings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from docchat.config import DocumentSettings
from docchat.documents.parsers import MARKDOWN, Piece, build_document
from docchat.documents.parsers.text import line_range, read_text
from docchat.documents.types import ParsedDocument

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_MATTER_END = re.compile(r"^(---|\.\.\.)[ \t]*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"[*_`]+")


@dataclass
class _Section:
    path: str | None
    lines: list[tuple[int, str]] = field(default_factory=list)  # (0-based line number, text)

    def piece(self) -> Piece:
        filled = [n for n, text in self.lines if text.strip()]
        location = line_range(filled[0] + 1, filled[-1] + 1) if filled else None
        text = "\n".join(text for _, text in self.lines)
        return Piece(text, section=self.path, location=location)


def parse_markdown(
    path: Path, limits: DocumentSettings, *, name: str | None = None
) -> ParsedDocument:
    """Split a Markdown file into sections by its headings, each labelled with its line range."""
    name = name or path.name
    lines = read_text(path, limits, name=name).split("\n")
    titles: list[str] = []
    pieces = list(_sections(lines, titles))
    return build_document(
        pieces, name=name, mime_type=MARKDOWN.mime_type, title=titles[0] if titles else None
    )


def _sections(lines: list[str], h1_titles: list[str]) -> Iterator[Piece]:
    stack: list[tuple[int, str]] = []  # (level, title) of the open headings
    current = _Section(None)
    paragraph_at: int | None = None  # where the paragraph under way starts in current.lines
    fence = ""
    i = _front_matter_end(lines)
    current.lines.extend(enumerate(lines[:i]))
    for n in range(i, len(lines)):
        line = lines[n]
        if fence:
            current.lines.append((n, line))
            if line.strip().startswith(fence):
                fence = ""
            continue
        if m := _FENCE.match(line):
            fence, paragraph_at = m.group(1), None
            current.lines.append((n, line))
            continue
        level, title, first = 0, "", n
        if m := _ATX.match(line):
            level, title = len(m.group(1)), m.group(2) or ""
        elif paragraph_at is not None and (m := _SETEXT.match(line)):
            # The underline turns the whole paragraph above it into the heading.
            level = 1 if m.group(1)[0] == "=" else 2
            heading = current.lines[paragraph_at:]
            del current.lines[paragraph_at:]
            title, first = " ".join(text.strip() for _, text in heading), heading[0][0]
        if level:
            yield current.piece()
            title = _plain(title)
            while stack and stack[-1][0] >= level:
                stack.pop()
            if title:
                stack.append((level, title))
                if level == 1:
                    h1_titles.append(title)
            current = _Section(" > ".join(t for _, t in stack) or None, [(first, title)])
            paragraph_at = None
            continue
        if not line.strip():
            paragraph_at = None
        elif paragraph_at is None:
            paragraph_at = len(current.lines)
        current.lines.append((n, line))
    yield current.piece()


def _front_matter_end(lines: list[str]) -> int:
    # YAML front matter's closing "---" would otherwise read as a setext underline.
    if lines and lines[0].strip() == "---":
        for n in range(1, len(lines)):
            if _FRONT_MATTER_END.match(lines[n]):
                return n + 1
    return 0


def _plain(title: str) -> str:
    return " ".join(_EMPHASIS.sub("", _LINK.sub(r"\1", title)).split())
