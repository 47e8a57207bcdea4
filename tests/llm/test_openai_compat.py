"""OpenAICompatibleModel against real servers: llama.cpp's serving SmolLM2, and one that fails on
purpose in every way a model server does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from llm_server import LlamaServer
from pydantic import SecretStr
from retrieval.openai_server import free_port

from docchat.errors import ProviderError
from docchat.llm.base import ChatMessage, ChatModel, ModelEvent, TextDelta, Usage
from docchat.llm.openai_compat import OpenAICompatibleModel, shown_url
from docchat.llm.prompts import Passage, answer_messages

from .chat_server import ANSWER, OVERFLOWS, Seen

SECRET = "sk-test-SECRET-0123456789"
QUESTION = [ChatMessage("user", "What is the capital of Xanadu?")]

Faulty = Callable[..., OpenAICompatibleModel]


def text_of(events: list[ModelEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def usage_of(events: list[ModelEvent]) -> Usage:
    assert isinstance(events[-1], Usage), "a reply ends with its usage"
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return events[-1]


@pytest.fixture
def faulty(chat_url: str) -> Iterator[Faulty]:
    """Factory: ``faulty(kind, **options)``, a model at /fault/{kind}/ with a key set."""
    models: list[OpenAICompatibleModel] = []

    def make(kind: str, **options: object) -> OpenAICompatibleModel:
        settings: dict[str, object] = {
            "model": "gpt-test",
            "api_key": SecretStr(SECRET),
            "timeout_s": 5.0,
            "max_retries": 0,
            **options,
        }
        model = OpenAICompatibleModel(
            "faulty",
            base_url=f"{chat_url}/fault/{kind}/v1",
            **settings,  # type: ignore[arg-type]
        )
        models.append(model)
        return model

    yield make
    for model in models:
        model.close()


def fails(model: OpenAICompatibleModel, kind: str) -> ProviderError:
    """The ProviderError a reply of ``model`` ends in, checked for what every one must say."""
    with pytest.raises(ProviderError) as caught:
        list(model.stream(QUESTION))
    error = caught.value
    assert error.kind == kind, error.message
    assert error.model == model.name
    assert f"{model.name!r}" in error.message  # names the configured model
    for text in (error.message, str(error), repr(error)):
        assert "SECRET" not in text
        assert "secret internals" not in text  # never the server's own words
    return error


# ------------------------------------------------------------------------------------------------
# A good server
# ------------------------------------------------------------------------------------------------


def test_streams_text_then_usage(chat_url: str, chat_seen: Seen) -> None:
    with OpenAICompatibleModel("good", base_url=f"{chat_url}/v1", model="m-1") as model:
        assert isinstance(model, ChatModel)
        events = list(model.stream(QUESTION, temperature=0.0, max_tokens=20, stop=["\n\n"]))
    assert text_of(events) == ANSWER
    assert len(events) > 2  # streamed, not in one piece
    assert usage_of(events) == Usage(prompt_tokens=42, completion_tokens=6)  # the server's count
    body = chat_seen.bodies[0]
    assert body["model"] == "m-1"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.0
    assert body["max_tokens"] == 20
    assert body["stop"] == ["\n\n"]
    assert body["messages"] == [{"role": "user", "content": "What is the capital of Xanadu?"}]
    assert chat_seen.authorization == ["Bearer not-needed"]  # no key configured


def test_defaults_come_from_the_model(chat_url: str, chat_seen: Seen) -> None:
    model = OpenAICompatibleModel(
        "good", base_url=f"{chat_url}/v1", temperature=0.7, max_output_tokens=99
    )
    list(model.stream(QUESTION))
    model.close()
    body = chat_seen.bodies[0]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("good", 0.7, 99)
    assert "stop" not in body


def test_the_key_is_sent_as_a_bearer_token(chat_url: str, chat_seen: Seen) -> None:
    model = OpenAICompatibleModel("good", base_url=f"{chat_url}/v1", api_key=SecretStr(SECRET))
    list(model.stream(QUESTION))
    model.close()
    assert chat_seen.authorization == [f"Bearer {SECRET}"]
    assert SECRET not in repr(model)


def test_usage_is_estimated_when_the_server_sends_none(faulty: Faulty) -> None:
    model = faulty("no-usage")
    usage = usage_of(list(model.stream(QUESTION)))
    assert usage.completion_tokens >= len(ANSWER.split())
    assert usage.prompt_tokens >= len(QUESTION[0].content.split())


def test_a_server_refusing_stream_options_is_asked_without(faulty: Faulty, chat_seen: Seen) -> None:
    model = faulty("strict")
    assert text_of(list(model.stream(QUESTION))) == ANSWER
    assert text_of(list(model.stream(QUESTION))) == ANSWER
    # Refused once, then never sent again.
    assert ["stream_options" in body for body in chat_seen.bodies] == [True, False, False]


def test_a_reasoning_model_gets_the_parameters_it_accepts(faulty: Faulty, chat_seen: Seen) -> None:
    model = faulty("reasoning")
    assert text_of(list(model.stream(QUESTION, max_tokens=50))) == ANSWER
    assert text_of(list(model.stream(QUESTION, max_tokens=60))) == ANSWER
    last = chat_seen.bodies[-1]
    assert last["max_completion_tokens"] == 60
    assert "max_tokens" not in last and "temperature" not in last
    assert len(chat_seen.bodies) == 4  # two refusals, learnt once


def test_closing_the_reply_early_closes_the_http_stream(faulty: Faulty, chat_seen: Seen) -> None:
    model = faulty("slow")
    reply = model.stream(QUESTION)
    assert isinstance(next(reply), TextDelta)
    assert isinstance(next(reply), TextDelta)
    reply.close()
    assert chat_seen.disconnected.wait(5), "the server did not see the client go"
    assert chat_seen.slow_chunks < 100  # of 500


def test_urls_in_messages_carry_no_credentials() -> None:
    assert shown_url("https://user:pw@api.example.com:8443/v1?api-key=k") == (
        "https://api.example.com:8443/v1"
    )
    assert shown_url("not a url") == "the configured base_url"


# ------------------------------------------------------------------------------------------------
# Faults: each a clear ProviderError naming the model, with a kind, and no key
# ------------------------------------------------------------------------------------------------


def test_nothing_listening() -> None:
    model = OpenAICompatibleModel(
        "down", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=SECRET, max_retries=0
    )
    error = fails(model, "unavailable")
    assert "could not be reached" in error.message


def test_http_500(faulty: Faulty, chat_seen: Seen) -> None:
    error = fails(faulty("http-500", max_retries=1), "server_error")
    assert "HTTP 500" in error.message
    assert chat_seen.attempts["http-500"] == 2  # retried once


@pytest.mark.parametrize("status", [401, 403])
def test_credentials_refused(faulty: Faulty, status: int) -> None:
    error = fails(faulty(f"http-{status}"), "auth")
    assert f"HTTP {status}" in error.message
    assert "api_key" in error.message


def test_unknown_model_id(faulty: Faulty) -> None:
    error = fails(faulty("http-404"), "rejected")
    assert "'gpt-test'" in error.message


def test_other_bad_request_is_not_overflow(faulty: Faulty) -> None:
    fails(faulty("bad-request"), "rejected")


def test_rate_limited_then_answered_after_retry_after(faulty: Faulty, chat_seen: Seen) -> None:
    model = faulty("rate-limited-once", max_retries=2)
    started = time.monotonic()
    assert text_of(list(model.stream(QUESTION))) == ANSWER
    # Retry-After: 1 was honoured (the client's own backoff would have waited at most 0.5 s).
    assert time.monotonic() - started >= 1.0
    assert chat_seen.attempts["rate-limited-once"] == 2


def test_rate_limited_for_good(faulty: Faulty, chat_seen: Seen) -> None:
    error = fails(faulty("rate-limited", max_retries=2), "rate_limited")
    assert "429" in error.message
    assert chat_seen.attempts["rate-limited"] == 3


def test_a_stalled_server_times_out(faulty: Faulty) -> None:
    started = time.monotonic()
    error = fails(faulty("stall", timeout_s=0.3), "timeout")
    assert time.monotonic() - started < 2.5
    assert "0.3 s" in error.message


def test_a_stream_that_stalls_mid_way_times_out(faulty: Faulty) -> None:
    reply = faulty("stall-mid-stream", timeout_s=0.3).stream(QUESTION)
    assert next(reply) == TextDelta("The")
    with pytest.raises(ProviderError) as caught:
        next(reply)
    assert caught.value.kind == "timeout"


@pytest.mark.parametrize("kind", sorted(OVERFLOWS))
def test_context_overflow_in_every_wording(faulty: Faulty, chat_seen: Seen, kind: str) -> None:
    error = fails(faulty(kind, context_window=8192), "context_overflow")
    assert "8192 tokens" in error.message
    assert chat_seen.attempts[kind] == 1  # not retried, nor asked again in another dialect


def test_a_stream_that_breaks_mid_way(faulty: Faulty) -> None:
    reply = faulty("broken").stream(QUESTION)
    received = []
    with pytest.raises(ProviderError) as caught:
        received.extend(reply)
    assert caught.value.kind == "interrupted"
    assert text_of(received) == "The capital"  # what came before the break was delivered


def test_a_stream_that_ends_without_finishing(faulty: Faulty) -> None:
    fails(faulty("truncated"), "interrupted")


@pytest.mark.parametrize("kind", ["not-json", "wrong-shape", "empty"])
def test_garbage(faulty: Faulty, kind: str) -> None:
    fails(faulty(kind), "bad_response")


def test_an_error_inside_the_stream(faulty: Faulty) -> None:
    error = fails(faulty("error-event"), "server_error")
    assert "CUDA" not in error.message


# ------------------------------------------------------------------------------------------------
# llama.cpp's server with SmolLM2-135M: the official client path end to end
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def served(smollm2_server: LlamaServer) -> Iterator[OpenAICompatibleModel]:
    model = OpenAICompatibleModel(
        "smollm2-server",
        base_url=smollm2_server.base_url,
        model=smollm2_server.alias,
        context_window=smollm2_server.n_ctx,
        timeout_s=60,
    )
    yield model
    model.close()


def test_a_real_server_streams_a_grounded_answer(served: OpenAICompatibleModel) -> None:
    passages = [Passage(1, "The capital of Xanadu is Zorbia. It lies on the river Alph.")]
    messages = answer_messages("What is the capital of Xanadu?", passages)
    events = list(served.stream(messages, temperature=0.0, max_tokens=24))
    assert "Zorbia" in text_of(events)
    assert len(events) > 3
    usage = usage_of(events)
    # llama-cpp-python's server sends no usage chunk: estimated, and never an underestimate.
    assert usage.prompt_tokens >= 60
    assert 1 <= usage.completion_tokens <= 2 * 24


def test_closing_early_stops_the_real_server(
    served: OpenAICompatibleModel, smollm2_server: LlamaServer
) -> None:
    before = smollm2_server.log().count("Disconnected from client")
    story = [ChatMessage("user", "Tell a long story about a dragon.")]
    reply = served.stream(story, max_tokens=500)
    assert isinstance(next(reply), TextDelta)
    reply.close()
    deadline = time.monotonic() + 10
    while smollm2_server.log().count("Disconnected from client") == before:
        assert time.monotonic() < deadline, "the server kept generating"
        time.sleep(0.05)
    # And it is free at once for the next request.
    assert text_of(list(served.stream(QUESTION, max_tokens=4)))


def test_a_prompt_longer_than_the_real_window(served: OpenAICompatibleModel) -> None:
    # llama-cpp-python's server answers 200, then drops the stream: the estimate tells why.
    with pytest.raises(ProviderError) as caught:
        list(served.stream([ChatMessage("user", "word " * 2100)], max_tokens=8))
    assert caught.value.kind == "context_overflow"
