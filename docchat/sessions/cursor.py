"""The cursor of a session listing: the last session's ``updated_at`` and id, opaque to clients."""

from __future__ import annotations

import base64
import datetime as dt

from docchat.errors import InvalidInput
from docchat.sessions.checks import valid_session_id


def encode_cursor(updated_at: dt.datetime, session_id: str) -> str:
    """The cursor of the page that starts after this session."""
    raw = f"{updated_at.isoformat()}|{session_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """(updated_at, session id) of a cursor; InvalidInput for one this server did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, session_id = raw.split("|", 1)
        when = dt.datetime.fromisoformat(stamp)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this server handed out", field="cursor") from exc
    if when.tzinfo is None or not valid_session_id(session_id):
        raise InvalidInput("cursor is not one this server handed out", field="cursor")
    return when, session_id
