"""Checks of what callers hand the session store: ids, roles, content, titles, JSON, settings.

Every value is checked before its transaction starts, so a refused one changes nothing and never
reaches a driver (where a lone surrogate fails inside a group commit's shared transaction).  The
limits come from ``Settings.sessions``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from docchat.config import SessionSettings
from docchat.errors import InvalidInput, TooLarge
from docchat.options import ChatSettings
from docchat.sessions.types import ROLES
from docchat.validation import check_json, check_text, may_be_unstorable

_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: The keys a settings patch may name.
SETTINGS_KEYS = frozenset(ChatSettings.model_fields)
#: What a key given as null in a settings patch goes back to.
SETTINGS_DEFAULTS = ChatSettings().model_dump(mode="json")

# What json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")) does, with
# the encoder made once: dumps builds a new JSONEncoder on every call given options (3 us of an
# append).  Encoders keep no state between calls, so threads share it.
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
# raw_decode skips what json.loads checks first (a str, no BOM, no surrounding whitespace), which
# text _ENCODE just wrote never has: 1.7 us where json.loads takes 5.5 us (bench/sessions.py).
_DECODE = json.JSONDecoder().raw_decode


def valid_session_id(session_id: object) -> bool:
    """Whether ``session_id`` is shaped like a session id (safe as a file name, <= 64 chars)."""
    return isinstance(session_id, str) and bool(_SESSION_ID.match(session_id))


def check_new_session_id(session_id: str) -> str:
    """``session_id`` unchanged; InvalidInput when a new session may not take it."""
    if not valid_session_id(session_id):
        raise InvalidInput(
            "session id must be 1-64 letters, digits, '-' or '_'", field="session_id"
        )
    return session_id


class SessionChecks:
    """The checks, with the configured limits."""

    def __init__(self, limits: SessionSettings) -> None:
        self.limits = limits

    def json(self, value: Any, field: str, kind: type) -> Any:
        """``value`` as a reader will get it back; InvalidInput or TooLarge naming ``field``."""
        return self.encode_json(value, field, kind)[0]

    def encode_json(self, value: Any, field: str, kind: type) -> tuple[Any, str | None]:
        """``value`` as a reader will get it back (tuples become lists...) and as stored text."""
        if value is None:
            return None, None
        if not isinstance(value, kind):
            raise InvalidInput(
                f"{field} must be a JSON {'object' if kind is dict else 'array'}", field=field
            )
        try:
            encoded = _ENCODE(value)
        except (TypeError, ValueError, RecursionError) as exc:
            # check_json names the part that cannot be stored (a deep value, NaN...), if any.
            check_json(value, field)
            raise InvalidInput(f"{field} is not JSON-serialisable", field=field) from exc
        if may_be_unstorable(encoded):
            check_json(value, field)
        # ASCII text is as many bytes as characters (str.isascii reads a flag CPython keeps).
        size = len(encoded) if encoded.isascii() else len(encoded.encode())
        if size > self.limits.max_json_bytes:
            raise TooLarge(
                f"{field} is larger than {self.limits.max_json_bytes} bytes as JSON", field=field
            )
        return _DECODE(encoded)[0], encoded

    def content(self, role: object, content: object) -> None:
        """InvalidInput or TooLarge when a message of ``role`` may not hold ``content``."""
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
        if not isinstance(content, str):
            raise InvalidInput("content must be a string", field="content")
        if len(content) > self.limits.max_content_chars:
            raise TooLarge(
                f"content is longer than {self.limits.max_content_chars} characters",
                field="content",
            )
        # ASCII text holds no lone surrogate (str.isascii reads a flag CPython keeps), so only NUL
        # is left to look for; anything else gets check_text's whole test and its message.
        if not content.isascii() or "\x00" in content:
            check_text(content, "content")

    def title(self, title: object) -> str:
        """The title to store ("" for None); InvalidInput or TooLarge naming ``title``."""
        if title is None:
            return ""
        if not isinstance(title, str):
            raise InvalidInput("title must be a string", field="title")
        if len(title) > self.limits.max_title_chars:
            raise TooLarge(
                f"title is longer than {self.limits.max_title_chars} characters", field="title"
            )
        return check_text(title, "title")


def parse_settings(settings: ChatSettings | dict[str, Any] | None) -> ChatSettings:
    """Settings given as a model, a dict or None (the defaults); InvalidInput naming the keys."""
    if settings is None:
        return ChatSettings()
    if isinstance(settings, ChatSettings):
        return settings
    if not isinstance(settings, dict):
        raise InvalidInput("settings must be an object", field="settings")
    try:
        return ChatSettings.model_validate(settings)
    except ValueError as exc:
        raise InvalidInput(describe_validation(exc, "settings"), field="settings") from exc


def settings_patch(settings: ChatSettings | dict[str, Any]) -> dict[str, Any]:
    """The keys a settings update replaces, as stored JSON; null puts a key back to its default."""
    if isinstance(settings, ChatSettings):
        return settings.to_json()
    if not isinstance(settings, dict):
        raise InvalidInput("settings must be an object", field="settings")
    unknown = set(settings) - SETTINGS_KEYS
    if unknown:
        raise InvalidInput(
            f"unknown settings key(s): {', '.join(sorted(map(str, unknown)))}",
            field="settings",
        )
    # null puts a key back to its default (the schema allows null for every key).
    return {k: SETTINGS_DEFAULTS[k] if v is None else v for k, v in settings.items()}


def describe_validation(exc: ValueError, prefix: str) -> str:
    """A readable one-line account of a pydantic validation error (no input values echoed)."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_input=False, include_url=False):
            loc = ".".join(str(p) for p in (prefix, *err["loc"]))
            parts.append(f"{loc}: {err['msg']}")
        return "; ".join(parts)
    return f"{prefix} is invalid"
