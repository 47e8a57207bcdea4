"""Asking over HTTP: JSON answers, Server-Sent Events, long modes as tasks, model failures as 502,
and the OpenAI-compatible endpoints driven by the official ``openai`` client."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from corpora import Corpora

from docchat.chat.modes import all_modes
from docchat.config import ModelSettings, Settings

StartServer = Callable[..., httpx.Client]
ExpectError = Callable[..., dict[str, Any]]
HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"


@pytest.fixture
def indexed(api_settings: Settings, corpora: Corpora) -> Settings:
    """The handbook ingested into the database the server will open (a copy of the run's one)."""
    corpora.copy_into(api_settings, [HANDBOOK])
    return api_settings


@pytest.fixture
def chat_client(indexed: Settings, start_server: StartServer) -> httpx.Client:
    return start_server(indexed)


@pytest.fixture
def sid(chat_client: httpx.Client) -> str:
    session_id: str = chat_client.post("/api/sessions", json={"title": "t"}).json()["id"]
    return session_id


def _events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    name = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name or "message", json.loads(line.removeprefix("data: "))
            name = None


def test_models_are_listed(chat_client: httpx.Client) -> None:
    items = chat_client.get("/api/models").json()["items"]
    names = {m["name"]: m for m in items}
    assert names["extractive"]["default"] is True
    assert names["extractive"]["available"] is True
    assert "smollm2" in names


def test_chat_answers_and_stores(chat_client: httpx.Client, sid: str) -> None:
    response = chat_client.post(
        f"/api/sessions/{sid}/chat", json={"question": "How long is CCTV footage kept?"}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "28 days" in answer["answer"]
    ref = answer["references"][0]
    assert ref["file_name"] == "data-retention.md" and ref["quote"]
    assert answer["metadata"]["model"] == "extractive"
    messages = chat_client.get(f"/api/sessions/{sid}/messages").json()["items"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["id"] == answer["assistant_message_id"]
    assert messages[1]["references"][0]["quote"] == ref["quote"]


def test_an_answer_names_the_language_rules_that_checked_it(
    chat_client: httpx.Client, sid: str
) -> None:
    asked = {
        "How long is CCTV footage kept?": ("en", "en"),
        # German has no rules: the language-neutral checks, and the answer says so.
        "Wie lange werden die Videoaufnahmen der Kameras aufbewahrt?": ("de", "neutral"),
    }
    for question, expected in asked.items():
        response = chat_client.post(f"/api/sessions/{sid}/chat", json={"question": question})
        assert response.status_code == 200, response.text
        metadata = response.json()["metadata"]
        assert (metadata["language"], metadata["language_checks"]) == expected
    messages = chat_client.get(f"/api/sessions/{sid}/messages").json()["items"]
    assert [m["metadata"]["language_checks"] for m in messages if m["role"] == "assistant"] == [
        "en",
        "neutral",
    ]


def test_chat_refuses_bad_requests_and_stores_nothing(
    chat_client: httpx.Client, sid: str, expect_error: ExpectError
) -> None:
    url = f"/api/sessions/{sid}/chat"
    error = expect_error(chat_client.post(url, json={"question": "hi", "model": "nope"}), 422)
    assert "extractive" in error["message"]
    expect_error(chat_client.post(url, json={"question": ""}), 422)
    expect_error(chat_client.post(url, json={"question": "q", "mode": "fast"}), 422)
    expect_error(
        chat_client.post("/api/sessions/nope/chat", json={"question": "q"}),
        404,
        "session_not_found",
    )
    assert chat_client.get(f"/api/sessions/{sid}/messages").json()["items"] == []


def test_chat_stream_sends_events_then_the_stored_answer(
    chat_client: httpx.Client, sid: str
) -> None:
    with chat_client.stream(
        "POST",
        f"/api/sessions/{sid}/chat/stream",
        json={"question": "How long is CCTV footage kept?"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(_events(response))
    kinds = [k for k, _ in events]
    assert kinds[0] == "retrieval" and kinds[-1] == "done" and "token" in kinds
    streamed = "".join(d["text"] for k, d in events if k == "token")
    done = events[-1][1]
    assert streamed == done["answer"]
    assert done["assistant_message_id"]
    stored = chat_client.get(f"/api/sessions/{sid}/messages").json()["items"]
    assert stored[-1]["content"] == done["answer"]


def test_chat_stream_errors_before_start_are_json(
    chat_client: httpx.Client, expect_error: ExpectError
) -> None:
    response = chat_client.post("/api/sessions/nope/chat/stream", json={"question": "q"})
    expect_error(response, 404, "session_not_found")


@pytest.mark.parametrize("mode", [m.name for m in all_modes() if m.background])
def test_long_modes_run_as_tasks(chat_client: httpx.Client, sid: str, mode: str) -> None:
    response = chat_client.post(
        f"/api/sessions/{sid}/chat",
        json={"question": "How loud is the X200 in its quiet programme?", "mode": mode},
    )
    assert response.status_code == 202, response.text
    task_url = response.json()["status_url"]
    assert response.headers["location"] == task_url
    for _ in range(600):
        task = chat_client.get(task_url).json()
        if task["finished_at"]:
            break
        import time

        time.sleep(0.05)
    assert task["status"] == "succeeded", task
    assert task["kind"] == "chat"
    assert "42 dB" in task["result"]["answer"]
    if mode == "full_reading":
        assert task["result"]["metadata"]["num_documents"] == 15
    messages = chat_client.get(f"/api/sessions/{sid}/messages").json()["items"]
    assert [m["role"] for m in messages] == ["user", "assistant"]


def test_a_failing_model_is_a_502_and_loses_nothing(
    indexed: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = ModelSettings(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=0, timeout_s=5
    )
    llm = indexed.llm.model_copy(update={"models": {"down": dead}})
    client = start_server(indexed.model_copy(update={"llm": llm}))
    sid = client.post("/api/sessions").json()["id"]
    response = client.post(
        f"/api/sessions/{sid}/chat",
        json={"question": "How long is CCTV footage kept?", "model": "down"},
    )
    error = expect_error(response, 502, "provider_error")
    assert "down" in error["message"]
    messages = client.get(f"/api/sessions/{sid}/messages").json()["items"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "How long is CCTV footage kept?"
    assert messages[1]["metadata"]["error"]["code"] == "provider_error"
    assert messages[1]["metadata"]["partial"] is True


def test_openai_client_lists_models_and_chats(chat_client: httpx.Client) -> None:
    client = openai.OpenAI(base_url=f"{chat_client.base_url}/v1", api_key="unused")
    ids = {m.id for m in client.models.list().data}
    assert {"docchat-basic", "docchat-extensive", "docchat-basic:smollm2"} <= ids

    completion = client.chat.completions.create(
        model="docchat-basic",
        messages=[{"role": "user", "content": "How long is CCTV footage kept?"}],
    )
    assert "28 days" in (completion.choices[0].message.content or "")
    extra = completion.model_extra or {}
    assert extra["references"][0]["file_name"] == "data-retention.md"
    session_id = extra["docchat"]["session_id"]

    # The conversation so far comes from `messages`; the follow-up is answered from it.
    follow_up = client.chat.completions.create(
        model="docchat-basic",
        messages=[
            {"role": "user", "content": "What does error F23 mean on the X100?"},
            {"role": "assistant", "content": "The drain hose is kinked [1]."},
            {"role": "user", "content": "And on the X300?"},
        ],
    )
    assert "drain pump" in (follow_up.choices[0].message.content or "")
    assert (follow_up.model_extra or {})["docchat"]["session_id"] != session_id

    chunks = list(
        client.chat.completions.create(
            model="docchat-basic",
            messages=[{"role": "user", "content": "How long is CCTV footage kept?"}],
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "28 days" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["references"][0]["file_name"] == "data-retention.md"

    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
