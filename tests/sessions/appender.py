"""A child process for the multi-process tests: appends to one session and acknowledges each return.

Usage: python appender.py DATABASE_URL DATA_DIR SESSION_ID TAG COUNT
Prints ``TAG SEQ POSITION`` on stdout (flushed) after each append has returned.  In a process
forked by ``multiprocessing`` (tests/sessions/test_durability.py), ``append_acknowledging_on``
sends the same lines through a pipe.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from multiprocessing.connection import Connection

from docchat.config import Settings
from docchat.sessions.store import SessionStore


def append(
    url: str,
    data_dir: str,
    session_id: str,
    tag: str,
    count: int,
    acknowledge: Callable[[str], None],
) -> None:
    """Append ``count`` messages, calling ``acknowledge("TAG SEQ POSITION")`` as each returns."""
    store = SessionStore.from_settings(Settings(database_url=url, data_dir=data_dir))
    for seq in range(count):
        msg = store.append(session_id, "user", f"{tag}:{seq}", metadata={"tag": tag, "seq": seq})
        acknowledge(f"{tag} {seq} {msg.position}")


def append_acknowledging_on(
    acks: Connection, url: str, data_dir: str, session_id: str, tag: str, count: int
) -> None:
    """``append``, each acknowledgement one message on ``acks``: a single write of a few bytes to
    a pipe, whole or not at all when the process is killed."""
    append(url, data_dir, session_id, tag, count, lambda line: acks.send_bytes(line.encode()))


def main() -> None:
    url, data_dir, session_id, tag, count = sys.argv[1:6]

    def print_line(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    append(url, data_dir, session_id, tag, int(count), print_line)


if __name__ == "__main__":
    main()
