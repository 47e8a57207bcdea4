"""Checks of caller-supplied values that every store and every face shares.

Text that cannot be stored is refused where it comes in, naming the field, before it reaches a
database driver: there a lone surrogate is a ``UnicodeEncodeError`` inside a transaction (and, in a
group commit, inside other callers' transactions too), and NUL is refused by PostgreSQL only.
Integers are bounded to what a 64-bit column holds; JSON is bounded in depth, for ``json`` recurses
(a deep enough document is a ``RecursionError``, not a ``ValueError``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from docchat.errors import InvalidInput, InvalidJSON

#: The largest and smallest integers a BIGINT column (and SQLite's INTEGER) holds.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
#: How deeply JSON values may nest (objects and arrays), in request bodies and in stored JSON.
MAX_JSON_DEPTH = 64

# A lone surrogate: valid in a Python str, not encodable as UTF-8, so no database stores it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return "contains a NUL character"
    if _SURROGATE.search(value):
        return "contains a lone surrogate (U+D800 to U+DFFF), which is not valid Unicode text"
    return None


def check_text(value: str, field: str) -> str:
    """``value`` unchanged; InvalidInput naming ``field`` when it cannot be stored."""
    problem = text_problem(value)
    if problem is not None:
        raise InvalidInput(f"{field} {problem}", field=field)
    return value


def json_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """The first part of a JSON-like value that cannot be stored: (its path, why), or None.

    Walks iteratively, so a value nested far beyond ``max_depth`` costs no recursion.  Paths read
    like ``metadata.sources[2].title`` relative to the value (empty for the value itself).
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return path, problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path, "is not a finite number"
        elif isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                return path, f"nests deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str):
                        problem = text_problem(key)
                        if problem is not None:
                            return _join(path, "<key>"), f"has a key that {problem}"
                    stack.append((child, _join(path, str(key)), depth + 1))
            else:
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


def plausible_id(value: object, *, max_chars: int = 255) -> bool:
    """Whether ``value`` could name a row: a string a database can compare (no NUL, no lone
    surrogate, not absurdly long).  Anything else names nothing, so the caller says not found."""
    return isinstance(value, str) and len(value) <= max_chars and text_problem(value) is None


def check_json(value: Any, field: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``value`` unchanged; InvalidInput naming the offending part when it cannot be stored."""
    found = json_problem(value, max_depth=max_depth)
    if found is not None:
        path, problem = found
        where = _join(field, path) if not path.startswith("[") else field + path
        raise InvalidInput(f"{where} {problem}", field=where)
    return value


def check_int(value: int, field: str, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """``value`` unchanged; InvalidInput when it is not an int in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be an integer", field=field)
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{field} must be between {minimum} and {maximum}", field=field)
    return value


def parse_json_body(body: bytes) -> Any:
    """A request body parsed as strict JSON and checked by ``json_problem``.

    Raises ``json.JSONDecodeError`` for malformed JSON (the caller reports it as such) and
    InvalidInput for JSON that parses but cannot be accepted: ``NaN``/``Infinity`` (not JSON),
    numbers of more digits than Python converts (4,300), nesting past ``MAX_JSON_DEPTH``, lone
    surrogates or NUL in any string.
    """
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise
    except UnicodeDecodeError:
        raise InvalidJSON("request body is not UTF-8 text", field="body") from None
    except RecursionError:
        raise InvalidJSON(
            f"request body nests deeper than {MAX_JSON_DEPTH} levels", field="body"
        ) from None
    except ValueError as exc:  # int() past sys.get_int_max_str_digits(), or a bare NaN
        if isinstance(exc, _ConstantRefused):
            raise InvalidJSON(
                "request body contains NaN or Infinity, which JSON does not allow", field="body"
            ) from None
        raise InvalidJSON(
            "request body contains a number with too many digits", field="body"
        ) from None
    found = json_problem(value)
    if found is not None:
        path, problem = found
        where = path.lstrip(".") or "body"
        raise InvalidInput(f"{where} {problem}", field=where)
    return value


class _ConstantRefused(ValueError):
    pass


def _refuse_constant(_name: str) -> Any:
    raise _ConstantRefused


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name
