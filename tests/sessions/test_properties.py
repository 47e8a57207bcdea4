"""Property-based tests of the store's inputs, on SQLite and PostgreSQL.

Whatever a caller passes (any Unicode, lone surrogates and NUL included, integers of any size,
JSON nested to any depth, NaN), the store either keeps it and gives it back exactly, or raises
InvalidInput and keeps nothing.  No other exception, and the store stays usable.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docchat.errors import InvalidInput
from docchat.sessions.store import SessionStore
from docchat.validation import INT64_MAX, INT64_MIN, MAX_JSON_DEPTH

# Every code point, with lone surrogates and NUL drawn often (uniformly they would be rare).
ANY_CHAR = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
    st.just("\x00"),
)
# Text a database stores: no NUL, no lone surrogate.
CLEAN_CHAR = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")

ANY_TEXT = st.text(ANY_CHAR, max_size=40)
CLEAN_TEXT = st.text(CLEAN_CHAR, max_size=40)

HUGE_INTS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.sampled_from([INT64_MAX, INT64_MAX + 1, INT64_MIN, INT64_MIN - 1]),
    # Past the 4,300 digits Python converts to text (built lazily: the repr would fail too).
    st.sampled_from([4400, -5000]).map(lambda n: (1 if n > 0 else -1) * 10 ** abs(n)),
)
RUNS = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the checkout; failures print their seed
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _json(text: st.SearchStrategy[str], *, clean: bool) -> st.SearchStrategy[Any]:
    floats = st.floats(allow_nan=not clean, allow_infinity=not clean)
    ints = st.integers(min_value=-(2**80), max_value=2**80) if clean else HUGE_INTS
    leaves = st.none() | st.booleans() | ints | floats | text
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4)
        ),
        max_leaves=20,
    )


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


DEEP = st.integers(min_value=0, max_value=3 * MAX_JSON_DEPTH).map(_nested)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: PostgreSQL's jsonb may turn 1e16 into 10000000000000000."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _append_or_refuse(store: SessionStore, sid: str, **kwargs: Any) -> None:
    before = store.get(sid).message_count
    try:
        message = store.append(sid, kwargs.pop("role", "user"), **kwargs)
    except InvalidInput:
        assert store.get(sid).message_count == before  # refused: nothing kept
        return
    stored = store.messages(sid, after=message.position - 1, limit=1)[0]
    assert stored.content == kwargs["content"]
    assert _same(stored.metadata, kwargs.get("metadata"))
    assert _same(stored.references, kwargs.get("references"))


@RUNS
@given(
    content=ANY_TEXT,
    metadata=st.none() | st.dictionaries(ANY_TEXT, _json(ANY_TEXT, clean=False), max_size=3),
    references=st.none() | st.lists(_json(ANY_TEXT, clean=False), max_size=3),
)
def test_any_append_is_kept_exactly_or_refused(
    store: SessionStore, content: str, metadata: Any, references: Any
) -> None:
    sid = store.create().id
    _append_or_refuse(store, sid, content=content, metadata=metadata, references=references)
    store.append(sid, "user", "still works")


@RUNS
@given(
    content=CLEAN_TEXT,
    metadata=st.dictionaries(CLEAN_TEXT, _json(CLEAN_TEXT, clean=True), max_size=3),
    references=st.lists(_json(CLEAN_TEXT, clean=True), max_size=3),
)
def test_clean_input_is_always_kept(
    store: SessionStore, content: str, metadata: Any, references: Any
) -> None:
    sid = store.create().id
    message = store.append(sid, "user", content, metadata, references)
    stored = store.messages(sid)[-1]
    assert stored.id == message.id
    assert stored.content == content
    assert _same(stored.metadata, metadata)
    assert _same(stored.references, references)
    # What append returns is what a reader gets back (it is built without a second validation).
    assert (message.position, message.role, message.content) == (
        stored.position,
        stored.role,
        stored.content,
    )
    assert message.created_at == stored.created_at
    assert _same(message.metadata, stored.metadata)
    assert _same(message.references, stored.references)


@RUNS
@given(value=DEEP)
def test_deep_json_is_kept_up_to_the_limit_and_refused_past_it(
    store: SessionStore, value: Any
) -> None:
    sid = store.create().id
    depth = 0
    probe = value
    while isinstance(probe, dict | list):
        depth += 1
        probe = probe["k"] if isinstance(probe, dict) else probe[0]
    metadata = {"v": value}  # one level more than ``value``
    if depth + 1 <= MAX_JSON_DEPTH:
        store.append(sid, "user", "deep", metadata)
        assert store.messages(sid)[-1].metadata == metadata
    else:
        before = store.get(sid).message_count
        try:
            store.append(sid, "user", "deep", metadata)
        except InvalidInput as exc:
            assert "nests deeper" in exc.message
        else:
            raise AssertionError("a too-deep value was stored")
        assert store.get(sid).message_count == before


@RUNS
@given(title=ANY_TEXT, new_title=ANY_TEXT)
def test_any_title_is_kept_or_refused(store: SessionStore, title: str, new_title: str) -> None:
    try:
        sid = store.create(title=title).id
    except InvalidInput:
        sid = store.create(title="fallback").id
    else:
        assert store.get(sid).title == title
    before = store.get(sid).title
    try:
        store.rename(sid, new_title)
    except InvalidInput:
        assert store.get(sid).title == before
    else:
        assert store.get(sid).title == new_title


@RUNS
@given(
    limit=st.none() | HUGE_INTS,
    before=st.none() | HUGE_INTS,
    after=st.none() | HUGE_INTS,
    offset=HUGE_INTS,
)
def test_any_integer_bound_answers_or_is_refused(
    store: SessionStore, limit: Any, before: Any, after: Any, offset: int
) -> None:
    sid = store.create().id
    store.append(sid, "user", "one")
    with contextlib.suppress(InvalidInput):
        store.messages(sid, limit=limit, before=before, after=after)
    try:
        store.list(offset=offset)
    except InvalidInput:
        assert not 0 <= offset <= INT64_MAX


@RUNS
@given(
    patch=st.fixed_dictionaries(
        {},
        optional={
            "model": st.none() | ANY_TEXT,
            "mode": st.none() | st.sampled_from(["basic", "extensive", "nonsense"]),
            "options": st.none()
            | st.fixed_dictionaries(
                {},
                optional={
                    "num_results": st.none() | HUGE_INTS,
                    "manual_keywords": st.lists(ANY_TEXT, max_size=60),
                    "custom_instructions": ANY_TEXT,
                    "temperature": st.floats() | st.booleans(),
                    "source_filters": st.fixed_dictionaries(
                        {}, optional={"collections": st.lists(ANY_TEXT, max_size=3)}
                    ),
                },
            ),
        },
    )
)
def test_any_settings_are_kept_or_refused(store: SessionStore, patch: dict[str, Any]) -> None:
    sid = store.create().id
    before = store.get(sid).settings
    try:
        updated = store.update_settings(sid, patch)
    except InvalidInput:
        assert store.get(sid).settings == before
    else:
        assert store.get(sid).settings == updated.settings
