"""Sessions as PDF transcripts: each message under a heading, and under each answer its
references with the quoted span that supports them.

Written with fpdf2.  Its built-in fonts print Latin-1 only, so the text is set in a Unicode font
that travels with docchat: Noto Sans from the ``fontpkg-noto-sans`` package (Latin, Greek,
Cyrillic, Vietnamese: about 3,000 characters), else Debian's DejaVu Sans where installed, else
fpdf2's Helvetica.  A character the font lacks (CJK, emoji, a rare symbol) is printed as U+FFFD
(or ``?``) rather than dropped silently or crashing the export; the JSON, Markdown and Word exports
keep every character.  A PDF cannot embed all of Unicode in one font without a CJK font of
20 MB or more, which docchat does not ship.

Noto Sans is a variable font; its bold is the instance at weight 700, which fontTools took 5.5 s
of CPU to make.  fpdf2 made it on every export, so even a one-line session cost 5.6 s: it is made
once (in about 1.5 s) and kept as a static font file in ``font_cache`` (``<data_dir>/cache/fonts``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from docchat.sessions.export import printable, reference_views
from docchat.sessions.types import ChatSession

_DEBIAN_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)
_FAMILY = "docchat"
_BOLD_WEIGHT = 700.0
log = logging.getLogger(__name__)
_GREY = (90, 90, 90)
_BODY_SIZE = 10.5


@dataclass(frozen=True, slots=True)
class _Fonts:
    """How text reaches the page: the family to set, and what each string becomes first."""

    family: str
    shown: Callable[[str], str]


def font_cache_dir(data_dir: Path) -> Path:
    """Where a data dir keeps the fonts PDF transcripts are set in, once made."""
    return data_dir / "cache" / "fonts"


def to_pdf(
    session: ChatSession, *, unicode_font: bool = True, font_cache: Path | None = None
) -> bytes:
    """The session as a PDF file's bytes; ``unicode_font=False`` sets it in Helvetica, reduced
    to Latin-1, as when no Unicode font is installed.  ``font_cache`` keeps the bold font once
    made (see the module docstring); without it each call makes it again."""
    if session.messages is None:
        raise ValueError("session must be loaded with include_messages=True")
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(18, 18, 18)
    fonts = _load_fonts(pdf, font_cache) if unicode_font else _Fonts("helvetica", _latin1)
    title = printable(session.title or f"Chat {session.id}")
    pdf.set_title(fonts.shown(title))
    pdf.set_creator("docchat")
    pdf.add_page()

    def write(
        text: str, *, size: float = _BODY_SIZE, bold: bool = False, indent: float = 0
    ) -> None:
        pdf.set_font(fonts.family, "B" if bold else "", size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(
            pdf.epw - indent,
            size * 0.5,
            fonts.shown(printable(text)),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )

    write(title, size=16, bold=True)
    pdf.ln(1)
    pdf.set_text_color(*_GREY)
    mode = session.settings.mode + (
        f", model: {session.settings.model}" if session.settings.model else ""
    )
    for line in (
        f"Session: {session.id}",
        f"Created: {session.created_at.isoformat()}",
        f"Updated: {session.updated_at.isoformat()}",
        f"Mode: {mode}",
    ):
        write(line, size=9)
    pdf.set_text_color(0, 0, 0)
    for message in session.messages:
        pdf.ln(4)
        write(f"{message.role.capitalize()} · {message.created_at.isoformat()}", size=12, bold=True)
        pdf.ln(1)
        write(message.content)
        references = reference_views(message.references)
        if references:
            pdf.ln(2)
            write("References", size=9.5, bold=True)
        for ref in references:
            write(f"[{ref.number}] {ref.label}", size=9.5)
            if ref.quote:
                pdf.set_text_color(*_GREY)
                write(f"“{ref.quote}”", size=9, indent=6)
                pdf.set_text_color(0, 0, 0)
    return bytes(pdf.output())


def _load_fonts(pdf: FPDF, font_cache: Path | None) -> _Fonts:
    """Register the best Unicode font available (see the module docstring)."""
    noto = _noto_sans()
    if noto is not None:
        pdf.add_font(_FAMILY, "", str(noto))
        bold = _bold_instance(noto, font_cache) if font_cache is not None else None
        if bold is not None:
            pdf.add_font(_FAMILY, "B", str(bold))
        else:
            pdf.add_font(_FAMILY, "B", str(noto), variations={"wght": _BOLD_WEIGHT})
    elif all(path.is_file() for path in _DEBIAN_FONTS):
        pdf.add_font(_FAMILY, "", str(_DEBIAN_FONTS[0]))
        pdf.add_font(_FAMILY, "B", str(_DEBIAN_FONTS[1]))
    else:
        return _Fonts("helvetica", _latin1)
    font = pdf.fonts[_FAMILY]
    covered = frozenset(font.cmap if isinstance(font, TTFFont) else ())  # bold has the same
    missing = "\ufffd" if 0xFFFD in covered else "?"

    def shown(text: str) -> str:
        return "".join(
            ch if ord(ch) in covered or ch in "\n\t " else missing
            for ch in unicodedata.normalize("NFC", text)
        )

    return _Fonts(_FAMILY, shown)


def _bold_instance(noto: Path, cache: Path) -> Path | None:
    """Noto Sans at weight 700 as a static font file in ``cache``, made on first use (as fpdf2
    makes it, so the glyphs are the same); None when the folder cannot be written."""
    stat = noto.stat()
    path = cache / f"NotoSans-wght700-{stat.st_size}-{stat.st_mtime_ns}.ttf"
    if path.is_file():
        return path
    # fontTools comes with fpdf2, which instances fonts with it too.
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
    from fontTools.varLib import instancer  # type: ignore[import-untyped]

    try:
        cache.mkdir(parents=True, exist_ok=True)
        # Atomically: two exports making it at once each write their own, and one wins.
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=".NotoSans-", suffix=".tmp")
    except OSError as exc:
        log.warning("cannot keep fonts in %s (%s): each PDF export makes its bold", cache, exc)
        return None
    try:
        font = TTFont(noto, recalcTimestamp=False)
        # Kerning and ligature tables, which fpdf2 reads only when text shaping is on (it is not
        # here), are most of the work: without them it takes 2 s, not 7.5 (pages drawn the same).
        for table in ("GPOS", "GSUB"):
            if table in font:
                del font[table]
        instancer.instantiateVariableFont(font, {"wght": _BOLD_WEIGHT}, inplace=True, static=True)
        with os.fdopen(fd, "wb") as fh:
            font.save(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _noto_sans() -> Path | None:
    try:
        import fontpkg_noto_sans
    except ImportError:
        return None
    path = Path(fontpkg_noto_sans.ROOT) / "files" / "NotoSans[wdth,wght].ttf"
    return path if path.is_file() else None


def _latin1(text: str) -> str:
    """Text fpdf2's core fonts can print: accents kept where Latin-1 has the letter, else the
    base letter, else ``?``."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if ord(ch) < 256:
            out.append(ch)
            continue
        base = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
        out.append(base or "?")
    return "".join(out)
