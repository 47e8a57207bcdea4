"""The one rule for names that people read: file names (uploads) and collection names."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docchat.documents.ingest import display_name
from docchat.documents.registry import check_collection_name
from docchat.errors import InvalidInput
from docchat.validation import (
    MAX_JSON_DEPTH,
    check_name,
    json_problem,
    may_be_unstorable,
    name_problem,
)


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("pol\u200bicy.md", "U+200B ZERO WIDTH SPACE"),
        ("invoice\u202efdp.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("a\u2066b", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("\ufeffnotes", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("soft\u00adhyphen", "U+00AD SOFT HYPHEN"),
        ("word\u2060joiner", "U+2060 WORD JOINER"),
        ("c1\x85control", "U+0085"),
        ("tab\there", "U+0009"),
        ("new\nline", "U+000A"),
        ("nul\x00", "U+0000"),
        ("del\x7f", "U+007F"),
        ("line\u2028sep", "U+2028 LINE SEPARATOR"),
        ("hangul\u3164filler", "U+3164 HANGUL FILLER"),
        ("cgj\u034fx", "U+034F COMBINING GRAPHEME JOINER"),
        ("pol\u200dicy", "U+200D ZERO WIDTH JOINER"),  # joins nothing: ASCII on both sides
        ("\u200cstart", "U+200C ZERO WIDTH NON-JOINER"),
        ("vs\ufe0f", "U+FE0F VARIATION SELECTOR-16"),  # after ASCII it selects nothing
        ("non\ufffe", "U+FFFE"),
    ],
)
def test_invisible_and_control_characters_are_named(name: str, named: str) -> None:
    problem = name_problem(name)
    assert problem is not None and named in problem
    with pytest.raises(InvalidInput) as caught:
        check_name(name, "collection", max_chars=200)
    assert named in caught.value.message and caught.value.field == "collection"
    # The same rule for file names and collection names.
    with pytest.raises(InvalidInput, match=named.split()[0].replace("+", r"\+")):
        display_name(name)
    with pytest.raises(InvalidInput, match=named.split()[0].replace("+", r"\+")):
        check_collection_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "policy.md",
        "日本語 notes.txt",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.txt",  # Persian: ZWNJ between letters
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 family.md",  # an emoji ZWJ sequence
        "\u2764\ufe0f notes.md",  # red heart, emoji presentation
        "\u0915\u094d\u200d\u0937.txt",  # Devanagari half form
        "r\u00e9sum\u00e9 (v2) [final].pdf",
        "\ue000private-use.txt",
    ],
)
def test_names_people_write_are_accepted(name: str) -> None:
    assert name_problem(name) is None
    assert check_name(name, "collection", max_chars=200) == name
    assert display_name(name) == name


def test_names_are_nfc_trimmed_and_spaces_are_spaces() -> None:
    assert check_name("  Cafe\u0301 ", "collection", max_chars=200) == "Caf\u00e9"
    # A no-break or ideographic space looks like a space, so it is one: two names that look
    # the same are the same name (and an upload under it says it replaced the other).
    assert check_name("a\u00a0b\u3000c", "collection", max_chars=200) == "a b c"
    assert display_name("Annual\u00a0Report.pdf") == "Annual Report.pdf"
    assert check_collection_name(" Cafe\u0301\u00a0menu ") == "Caf\u00e9 menu"


def test_empty_and_long_names_are_refused() -> None:
    for empty in ("", "   ", "\u3000"):
        with pytest.raises(InvalidInput, match="must not be empty"):
            check_name(empty, "collection", max_chars=200)
    with pytest.raises(InvalidInput, match="at most 200 characters"):
        check_name("x" * 201, "collection", max_chars=200)
    assert check_name("x" * 200, "collection", max_chars=200) == "x" * 200


def test_the_message_shows_the_name_escaped() -> None:
    # A bidi override in the message would reorder the text around it wherever it is shown.
    problem = name_problem("invoice\u202efdp.exe")
    assert problem is not None and "\u202e" not in problem


# -- the store's fast JSON check -----------------------------------------------------------------

_ANY_TEXT = st.text(
    st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
        st.sampled_from(["\x00", "[", "{", "\\", "u"]),
    ),
    max_size=12,
)
_JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _ANY_TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_ANY_TEXT | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


def _encoded(value: Any) -> str | None:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None  # the store walks such a value with json_problem itself


@settings(max_examples=500, deadline=None)
@given(_JSON_LIKE)
def test_whatever_json_problem_refuses_the_fast_check_flags(value: Any) -> None:
    encoded = _encoded(value)
    if encoded is not None and json_problem(value) is not None:
        assert may_be_unstorable(encoded)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 500])
def test_nesting_at_and_past_the_limit_is_flagged(depth: int) -> None:
    value = _nested(depth)
    encoded = _encoded(value)
    assert encoded is not None
    assert (json_problem(value) is not None) == (depth > MAX_JSON_DEPTH)
    assert may_be_unstorable(encoded) == (depth >= MAX_JSON_DEPTH)


@pytest.mark.parametrize(
    "value",
    [{"x": "nul\x00"}, {"nul\x00key": 1}, ["lone \ud800"], {"\udfff": None}],
)
def test_nul_and_lone_surrogates_are_flagged_in_keys_and_values(value: Any) -> None:
    encoded = _encoded(value)
    assert encoded is not None and json_problem(value) is not None
    assert may_be_unstorable(encoded)


def test_ordinary_metadata_skips_the_walk() -> None:
    # The point of the fast check: what chat turns store is not walked a second time.
    metadata = {"model": "llama-3.1-8b", "mode": "basic", "tokens": 87, "sources": [{"page": 3}]}
    assert not may_be_unstorable(_encoded(metadata) or "")
