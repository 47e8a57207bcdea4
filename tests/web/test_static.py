"""The web app's files: what the page loads first stays small, vendored files are the ones
recorded, and our scripts never turn text into markup."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from docchat.web.views import STATIC_DIR

#: First-load JavaScript budget (the browser test measures what Chromium really loads).
JS_BUDGET_BYTES = 300 * 1024
_IMPORT = re.compile(
    r"""(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|import\s*["']([^"']+)["']"""
)
_SCRIPT = re.compile(r"""<script[^>]*\ssrc="([^"]+)\"""")


def _local(url: str, base: Path) -> Path:
    if url.startswith("/static/"):
        return STATIC_DIR / url.removeprefix("/static/")
    return (base.parent / url).resolve()


def first_load_scripts() -> set[Path]:
    """Every script the page loads at start: its <script> tags and their static imports."""
    html = (STATIC_DIR / "index.html").read_text()
    todo = [_local(url, STATIC_DIR / "index.html") for url in _SCRIPT.findall(html)]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.suffix in (".js", ".mjs"):
            for match in _IMPORT.finditer(path.read_text()):
                todo.append(_local(match.group(1) or match.group(2), path))
    return seen


def test_first_load_javascript_within_budget() -> None:
    scripts = first_load_scripts()
    assert STATIC_DIR / "js" / "chat.js" in scripts
    assert STATIC_DIR / "vendor" / "marked.esm.js" in scripts
    total = sum(p.stat().st_size for p in scripts)
    assert total <= JS_BUDGET_BYTES, sorted((p.name, p.stat().st_size) for p in scripts)


def test_vendored_files_match_their_record() -> None:
    record = (STATIC_DIR / "vendor" / "VENDORED.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|.*?\| `([0-9a-f]{64})` \|", record, flags=re.M)
    assert {name for name, _ in rows} == {"marked.esm.js", "purify.min.js"}
    for name, digest in rows:
        assert hashlib.sha256((STATIC_DIR / "vendor" / name).read_bytes()).hexdigest() == digest


def test_our_scripts_never_parse_strings_as_html() -> None:
    forbidden = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(")
    for path in (STATIC_DIR / "js").glob("*.js"):
        code = [
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("//")
        ]
        assert not forbidden.search("\n".join(code)), path.name


def test_page_has_no_inline_script_or_style() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html)
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"\son[a-z]+=", html)
