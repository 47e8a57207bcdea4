"""``/v1/chat/completions`` as OpenAI clients see it, driven by the official ``openai`` SDK
against a real server: what docchat does not support is refused naming the parameter, and
streams carry what the SDK's helpers expect (the role first, usage in its own last chunk)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from corpora import Corpora

from docchat.config import Settings

StartServer = Callable[..., httpx.Client]
HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
# Typed loosely: the SDK's TypedDict overloads add nothing to these tests.
QUESTION: Any = [{"role": "user", "content": "How long is CCTV footage kept?"}]
TOOL: Any = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.fixture
def server(api_settings: Settings, corpora: Corpora, start_server: StartServer) -> Any:
    corpora.copy_into(api_settings, [HANDBOOK])
    return start_server(api_settings)


@pytest.fixture
def sdk(server: httpx.Client) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize(
    ("param", "extra"),
    [
        ("n", {"n": 3}),
        ("tool_choice", {"tools": [TOOL], "tool_choice": "required"}),
        (
            "tool_choice",
            {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "f"}}},
        ),
        ("response_format", {"response_format": {"type": "json_object"}}),
        (
            "response_format",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {}},
                }
            },
        ),
    ],
)
def test_unsupported_parameters_are_400_naming_them(
    sdk: openai.OpenAI, server: httpx.Client, param: str, extra: dict[str, Any]
) -> None:
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as raised:
            sdk.chat.completions.create(
                model="docchat-basic", messages=QUESTION, stream=stream, **extra
            )
        error = raised.value
        assert error.status_code == 400
        assert error.param == param
        assert error.code == "unsupported_parameter"
        assert error.type == "invalid_request_error"
        assert param in error.message
    # Refused before anything was stored.
    assert server.get("/api/sessions").json()["items"] == []


def test_supported_values_of_those_parameters_are_accepted(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="docchat-basic",
        messages=QUESTION,
        n=1,
        tools=[TOOL],
        tool_choice="auto",
        response_format={"type": "text"},
    )
    assert len(completion.choices) == 1
    assert "28 days" in (completion.choices[0].message.content or "")
    assert completion.choices[0].message.tool_calls is None


def test_validation_errors_name_the_param_too(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        sdk.chat.completions.create(model="docchat-basic", messages=QUESTION, temperature=5)
    assert raised.value.param == "temperature"
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        sdk.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert raised.value.param == "model"


def test_a_stream_starts_with_the_role_and_ends_with_usage_alone(sdk: openai.OpenAI) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="docchat-basic",
            messages=QUESTION,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    assert len({c.id for c in chunks}) == 1
    *answer, usage = chunks
    assert usage.choices == []
    assert usage.usage is not None
    assert usage.usage.total_tokens == usage.usage.prompt_tokens + usage.usage.completion_tokens
    assert all(c.usage is None for c in answer)
    assert "usage" in answer[0].model_fields_set  # null, as OpenAI sends it
    finish = answer[-1]
    assert finish.choices[0].finish_reason == "stop"
    assert (finish.model_extra or {})["references"][0]["file_name"] == "data-retention.md"
    assert "28 days" in "".join(c.choices[0].delta.content or "" for c in answer)

    # Without include_usage no chunk goes without a choice.
    plain = list(sdk.chat.completions.create(model="docchat-basic", messages=QUESTION, stream=True))
    assert plain[0].choices[0].delta.role == "assistant"
    assert all(c.choices for c in plain)
    assert plain[-1].choices[0].finish_reason == "stop"


def test_the_sdk_stream_helper_assembles_the_answer(sdk: openai.OpenAI) -> None:
    with sdk.chat.completions.stream(
        model="docchat-basic",
        messages=QUESTION,
        stream_options={"include_usage": True},
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert kinds[0] == "chunk"
    assert "content.delta" in kinds and "content.done" in kinds
    message = final.choices[0].message
    assert message.role == "assistant"
    assert "28 days" in (message.content or "")
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None
