"""Checks of caller-supplied values that every store and every face shares.

Text that cannot be stored is refused where it comes in, naming the field, before it reaches a
database driver: there a lone surrogate is a ``UnicodeEncodeError`` inside a transaction (and, in a
group commit, inside other callers' transactions too), and NUL is refused by PostgreSQL only.
Integers are bounded to what a 64-bit column holds; JSON is bounded in depth, for ``json`` recurses
(a deep enough document is a ``RecursionError``, not a ``ValueError``).

Names people read (file names of uploads, collection names) follow one rule, ``check_name``: NFC,
spaces as spaces, and no character that cannot be seen.  Stripping such characters made a name
with a zero-width space (U+200B) in it silently replace the document it spelled; keeping them
lets a right-to-left override (U+202E) show ``invoice<U+202E>fdp.exe`` as ``invoiceexe.pdf``.
So they are refused, by name.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Annotated, Any

from pydantic import BeforeValidator

from docchat.errors import InvalidInput, InvalidJSON

#: The largest and smallest integers a BIGINT column (and SQLite's INTEGER) holds.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
#: How deeply JSON values may nest (objects and arrays), in request bodies and in stored JSON.
MAX_JSON_DEPTH = 64


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer (or null) as JSON Schema reads one: ``5`` or ``5.0``, never ``5.5``, ``"5"`` or
#: ``true``.  JSON has one number type (JavaScript writes 5 for 5.0, a fuzzer 199.0 for 199), and
#: strict models refused ``199.0`` that the published ``"type": "integer"`` admits.  The validator
#: wraps the whole union: on ``int`` alone, pydantic published ``Field(ge=...)`` as "ge", not
#: "minimum".
OptionalWholeNumber = Annotated[int | None, BeforeValidator(_whole)]

# A lone surrogate: valid in a Python str, not encodable as UTF-8, so no database stores it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return "contains a NUL character"
    if _SURROGATE.search(value):
        return "contains a lone surrogate (U+D800 to U+DFFF), which is not valid Unicode text"
    return None


# Invisible characters that are not format characters (category Cf): the combining grapheme
# joiner, the Hangul fillers and the Mongolian free variation selectors (Unicode's
# Default_Ignorable_Code_Point, less what the joiner rule allows below).
_INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\uffa0]")
# Noncharacters: U+FDD0..U+FDEF, and the last two code points of every plane (``_refused``).
_NONCHARACTER = re.compile("[\ufdd0-\ufdef]")
# Characters that join or select only within a non-ASCII letter or emoji sequence: ZWNJ and ZWJ
# (Persian, Indic scripts, emoji families), variation selectors (emoji presentation) and tags
# (subdivision flags).  Next to ASCII they change nothing visible, so they are refused there.
_JOINERS = frozenset("\u200c\u200d")
_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef\U000e0020-\U000e007f]")
_SHOWN_CHARACTERS = 5


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a file or a collection: the invisible or control characters it
    holds, listed (``U+200B ZERO WIDTH SPACE``), or None.

    Refused: controls (C0, DEL, C1), format characters (bidi controls such as U+202E, zero-width
    characters, the soft hyphen, BOM), line and paragraph separators, lone surrogates,
    noncharacters and other default-ignorable code points; a joiner or selector is allowed only
    inside a non-ASCII sequence (between two non-ASCII characters for ZWNJ/ZWJ, after one for a
    selector).
    """
    found: list[str] = []
    for i, ch in enumerate(name):
        if not _refused(name, i, ch) or ch in found:
            continue
        found.append(ch)
    if not found:
        return None
    shown = ", ".join(_describe(ch) for ch in found[:_SHOWN_CHARACTERS])
    if len(found) > _SHOWN_CHARACTERS:
        shown += f" and {len(found) - _SHOWN_CHARACTERS} more"
    return f"contains invisible or control characters ({shown}); remove them"


def check_name(raw: str, field: str, *, max_chars: int, label: str | None = None) -> str:
    """``raw`` as a name: NFC, every kind of space a plain space, trimmed.

    InvalidInput naming ``field`` when it is empty, longer than ``max_chars`` or holds a character
    ``name_problem`` refuses; messages call it ``label`` (default "<field> name").  Applying it
    twice changes nothing.
    """
    label = label or f"{field} name"
    name = normalise_name(raw)
    if not name:
        raise InvalidInput(f"{label} must not be empty", field=field)
    problem = name_problem(name)
    if problem is not None:
        raise InvalidInput(f"{label} {_shown(name)} {problem}", field=field)
    if len(name) > max_chars:
        raise InvalidInput(f"{label} must be at most {max_chars} characters", field=field)
    return name


def normalise_name(raw: str) -> str:
    """``raw`` in NFC with every kind of space a plain space, trimmed; nothing refused."""
    # A no-break or ideographic space looks like a space: two names that look alike are one name.
    name = unicodedata.normalize("NFC", raw)
    name = "".join(" " if unicodedata.category(c) == "Zs" else c for c in name)
    # Only spaces are trimmed: str.strip would also drop controls such as U+0085 and U+001F,
    # making "garden\x85" silently the collection "garden".
    return name.strip(" ")


def _refused(name: str, i: int, ch: str) -> bool:
    category = unicodedata.category(ch)
    if ch in _JOINERS:
        return not (0 < i < len(name) - 1 and _joinable(name[i - 1]) and _joinable(name[i + 1]))
    if _SELECTORS.match(ch):
        return not (i > 0 and _joinable(name[i - 1]))
    return (
        category in ("Cc", "Cf", "Cs", "Zl", "Zp")
        or bool(_INVISIBLE.match(ch))
        or bool(_NONCHARACTER.match(ch))
        or (ord(ch) & 0xFFFE) == 0xFFFE
    )


def _joinable(ch: str) -> bool:
    return ord(ch) > 0x7F and not ch.isspace()


def _describe(ch: str) -> str:
    label = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {label}" if label else f"U+{ord(ch):04X}"


def _shown(name: str) -> str:
    # repr escapes what cannot be printed, so a bidi override cannot reorder the message.
    return repr(name if len(name) <= 80 else name[:77] + "...")


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


def may_be_unstorable(encoded: str) -> bool:
    """Whether JSON text that ``json.dumps(..., ensure_ascii=False, allow_nan=False)`` wrote may
    hold what ``json_problem`` refuses; False means it holds none of it, so the walk is skipped.

    The text shows each refusal: NUL as the escape ``\\u0000``, a lone surrogate as itself (not
    escaped without ``ensure_ascii``), a non-finite number never (``allow_nan=False`` raised), and
    ``MAX_JSON_DEPTH`` levels of nesting as at least as many brackets.  Brackets or a backslash-u
    inside strings only make it say True more often; ``json_problem`` then decides.
    """
    return (
        "\\u0000" in encoded
        or encoded.count("[") + encoded.count("{") >= MAX_JSON_DEPTH
        or _SURROGATE.search(encoded) is not None
    )


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
