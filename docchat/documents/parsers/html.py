"""HTML: the page's main text, one unit per section; headings h1-h6 build the section path.

Navigation, headers, footers, sidebars, forms and scripts are dropped first, so menus and cookie
banners do not crowd out the content in search results.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser, LexborNode

from docchat.config import DocumentSettings
from docchat.documents.parsers import HTML, Piece, build_document, check_size
from docchat.documents.parsers.text import decode_text
from docchat.documents.types import ParsedDocument

_DROPPED_TAGS = [
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "button", "select", "svg", "canvas", "iframe", "object", "embed", "dialog",
]  # fmt: skip
_DROPPED_ROLES = '[role="navigation"], [role="banner"], [role="contentinfo"], [aria-hidden="true"]'
# Permalink anchors that doc generators put after headings and captions (Sphinx and MkDocs "¶",
# Docusaurus "#"): they would end every section name with a stray symbol.
_PERMALINK_MARKS = frozenset("\u00b6\u00a7#\U0001f517\u200b")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = frozenset(
    {
        "address", "article", "blockquote", "br", "caption", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "main",
        "ol", "p", "pre", "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_CELL_MARK = "\x1f"  # a control character, so it cannot occur in the page's own text
_SPACES = re.compile(r"\s+")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


def parse_html(path: Path, limits: DocumentSettings, *, name: str | None = None) -> ParsedDocument:
    """Extract an HTML page's content text by section, without boilerplate."""
    name = name or path.name
    check_size(path, limits, name=name)
    tree = LexborHTMLParser(_decode(path.read_bytes(), name=name))
    # An <svg> in the body may have a <title> of its own.
    title_node = tree.css_first("head > title") or tree.css_first("title")
    title = title_node.text(deep=True) if title_node is not None else None
    tree.strip_tags(_DROPPED_TAGS)
    for node in tree.css(_DROPPED_ROLES):
        node.decompose()
    _drop_permalinks(tree)
    root = tree.body or tree.root
    pieces = list(_sections(root)) if root is not None else []
    return build_document(pieces, name=name, mime_type=HTML.mime_type, title=title)


def _drop_permalinks(tree: LexborHTMLParser) -> None:
    # An in-page link whose whole text is a permalink mark; one with real words is kept.
    for node in tree.css('a[href^="#"]'):
        if set(node.text(deep=True).strip()) <= _PERMALINK_MARKS:
            node.decompose()


def _decode(data: bytes, *, name: str) -> str:
    # Without a BOM, NUL bytes mean binary whatever the page declares; decode_text says so.
    if not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) and b"\x00" not in data:
        declared = _META_CHARSET.search(data[:4096])
        if declared:
            try:
                codec = codecs.lookup(declared.group(1).decode("ascii"))
            except (LookupError, UnicodeDecodeError):
                pass
            else:
                # A page that declares UTF-16 without a BOM is not UTF-16 (HTML spec: use UTF-8).
                if not codec.name.startswith(("utf-16", "utf-32")):
                    return data.decode(codec.name, errors="replace")
    return decode_text(data, name=name)


def _sections(root: LexborNode) -> Iterator[Piece]:
    headings: list[tuple[int, str]] = []
    out: list[str] = []
    # An explicit stack, not recursion: hostile pages nest elements thousands deep.
    stack = [(root, root.iter(include_text=True), False)]
    while stack:
        node, children, in_pre = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if node.tag in _BLOCKS:
                out.append("\n")
            continue
        tag = child.tag
        if tag == "-text":
            text = child.text_content or ""
            out.append(text if in_pre else _SPACES.sub(" ", text))
        elif tag in _HEADINGS:
            yield _piece(out, headings)
            level = _HEADINGS[tag]
            title = " ".join(child.text(deep=True).split())
            while headings and headings[-1][0] >= level:
                headings.pop()
            if title:
                headings.append((level, title))
            out = [title, "\n"]
        elif tag is not None and not tag.startswith("-"):
            if tag in _BLOCKS:
                out.append("\n")
            elif tag in _CELLS:
                out.append(_CELL_MARK)
            stack.append((child, child.iter(include_text=True), in_pre or tag == "pre"))
    yield _piece(out, headings)


def _piece(out: list[str], headings: list[tuple[int, str]]) -> Piece:
    lines = []
    for line in "".join(out).split("\n"):
        cells = [cell.strip() for cell in line.split(_CELL_MARK)]
        line = " | ".join(cell for cell in cells if cell)
        if line:
            lines.append(line)
    return Piece("\n".join(lines), section=" > ".join(t for _, t in headings) or None)
