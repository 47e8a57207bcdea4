"""Headers for files we send back: a ``Content-Disposition`` no file name can break, and the rule
for which types a browser may show inline on our origin.

File names come from users (an upload's name, a path on disk) and may hold quotes, semicolons,
line breaks, path parts or any script.  The header carries an ASCII fallback, reduced to
characters that need no quoting rules, and the exact name as RFC 6266 / RFC 5987
``filename*=UTF-8''…`` (percent-encoded, so nothing in it can end the value or the header).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import quote

from docchat.documents.storage import ReadableStream

#: Types a browser may show inline: they run no script on our origin.  HTML, SVG, XML and
#: anything else are always attachments (a stored HTML page shown inline could read the API).
INLINE_TYPES = frozenset({"application/pdf", "text/plain"})
_INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9 ._()+,=@-]+")
_MAX_NAME_CHARS = 150
#: Bytes sent per block of a downloaded file.
BLOCK_BYTES = 256 * 1024


def may_show_inline(media_type: str) -> bool:
    """Whether ``media_type`` may be sent with ``Content-Disposition: inline``."""
    base = media_type.split(";", 1)[0].strip().lower()
    return base in INLINE_TYPES or base in _INLINE_IMAGES


def base_name(file_name: str) -> str:
    """The last part of a path-like name, without controls or lone surrogates."""
    name = re.split(r"[/\\]", file_name)[-1]
    name = "".join(
        ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cs", "Cf", "Zl", "Zp")
    )
    return name.strip().strip(".") or "download"


def content_disposition(file_name: str, *, inline: bool = False) -> str:
    """``attachment`` (or ``inline``) with an ASCII ``filename`` and the exact ``filename*``."""
    name = base_name(file_name)[:_MAX_NAME_CHARS]
    found = re.search(r"\.[A-Za-z0-9]{1,10}$", name)
    suffix = found.group() if found else ""
    stem = name[: len(name) - len(suffix)]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    # The suffix stays even when the stem had no ASCII at all, so the type remains visible.
    ascii_name = (_UNSAFE_ASCII.sub("_", ascii_stem).strip(" ._") or "download") + suffix
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def export_name(title: str, fallback: str, suffix: str) -> str:
    """A file name for an export: the chat's title made one path part, or ``fallback`` when the
    title leaves nothing."""
    # A slash in "Q3/Q4 plan" is part of the title, not a folder; base_name would keep only "Q4".
    stem = " ".join(re.sub(r"[/\\]", "-", title).split())[:_MAX_NAME_CHARS].strip(" .")
    return f"{stem or fallback}.{suffix}"


def file_headers(media_type: str, file_name: str, *, inline: bool = False) -> dict[str, str]:
    """Headers for sending a stored file: inline only when asked and safe, never sniffed, and
    sandboxed (no script, no same-origin access) should a browser render it anyway."""
    shown_inline = inline and may_show_inline(media_type)
    headers = {
        "Content-Disposition": content_disposition(file_name, inline=shown_inline),
        "X-Content-Type-Options": "nosniff",
    }
    # Chrome's PDF viewer does not run in a sandboxed document, so PDFs go without; they run no
    # script of ours either way.
    if not media_type.lower().startswith("application/pdf"):
        headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return headers


def read_blocks(stream: ReadableStream) -> Iterator[bytes]:
    """The stream's bytes in blocks, for a streaming response; closed when done or abandoned."""
    try:
        while block := stream.read(BLOCK_BYTES):
            yield block
    finally:
        stream.close()
