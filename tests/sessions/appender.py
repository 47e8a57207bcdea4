"""A child process for the multi-process tests: appends to one session and acknowledges each return.

Usage: python appender.py DATABASE_URL DATA_DIR SESSION_ID TAG COUNT
Prints ``TAG SEQ POSITION`` on stdout (flushed) after each append has returned.
"""

from __future__ import annotations

import sys

from docchat.config import Settings
from docchat.sessions.store import SessionStore


def main() -> None:
    url, data_dir, session_id, tag, count = sys.argv[1:6]
    store = SessionStore.from_settings(Settings(database_url=url, data_dir=data_dir))
    for seq in range(int(count)):
        msg = store.append(session_id, "user", f"{tag}:{seq}", metadata={"tag": tag, "seq": seq})
        sys.stdout.write(f"{tag} {seq} {msg.position}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
