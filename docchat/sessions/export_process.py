"""Word and PDF transcripts written by a child process, so that a large one neither holds the
server's interpreter nor keeps its memory.

fpdf2 and python-docx are pure Python where it counts: a PDF of a session with two 1M-character
messages took 31.7 s of CPU in the server process, and the threads writing six of them took the
interpreter lock from every other request (a chat went from 0.2 s to 11.6 s).  In a child the
work runs on another core under its own lock, its memory goes back to the system when it exits,
and it can be stopped after ``renders.export_timeout_s``.  The session goes to the child as JSON
on stdin; the file comes back on stdout.  Starting the child costs about 1 s of CPU (importing
fpdf2 and the session types), which a download can afford.

Run as ``python -m docchat.sessions.export_process pdf|docx DATA_DIR``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Literal

from docchat.errors import DocchatError, TooLarge
from docchat.sessions.types import ChatSession

log = logging.getLogger(__name__)

RenderedFormat = Literal["docx", "pdf"]
USAGE = "usage: python -m docchat.sessions.export_process pdf|docx DATA_DIR"
_NAMES = {"docx": "Word", "pdf": "PDF"}


def export_in_child(
    session: ChatSession, format: RenderedFormat, *, data_dir: Path, timeout_s: float
) -> bytes:
    """The session as a ``format`` file, written by a child process (which keeps the fonts it
    makes under ``data_dir``).

    TooLarge when the child runs past ``timeout_s`` (it is killed); DocchatError when it fails
    (the reason goes to the log only).
    """
    if session.messages is None:
        raise ValueError("session must be loaded with include_messages=True")
    try:
        done = subprocess.run(
            [sys.executable, "-P", "-m", __name__, format, str(data_dir)],
            input=session.model_dump_json().encode("utf-8"),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TooLarge(
            f"session {session.id!r} is too large to write as {_NAMES[format]} within "
            f"{timeout_s:g} s; export it as JSON or Markdown",
            field="format",
        ) from None
    if done.returncode != 0 or not done.stdout:
        log.error(
            "the %s export of session %s failed (exit status %s): %s",
            format,
            session.id,
            done.returncode,
            done.stderr.decode("utf-8", "replace")[-2000:],
        )
        raise DocchatError(f"the {_NAMES[format]} export of session {session.id!r} failed")
    return done.stdout


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in _NAMES:
        print(USAGE, file=sys.stderr)
        return 2
    session = ChatSession.model_validate_json(sys.stdin.buffer.read())
    if argv[0] == "pdf":
        from docchat.sessions.export_pdf import font_cache_dir, to_pdf

        data = to_pdf(session, font_cache=font_cache_dir(Path(argv[1])))
    else:
        from docchat.sessions.export_docx import to_docx

        data = to_docx(session)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
