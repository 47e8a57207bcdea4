"""A server killed while it streams an answer loses no stored message: after a restart the answer
holds the text streamed until shortly before the kill, marked interrupted, and the turn's task
(named in both messages' metadata) says so too.  One stopped with SIGTERM (a supervisor's stop)
takes no new request, finishes the answer it is streaming, and hands its background turn back
as interrupted before it exits."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from corpora import Corpora
from llm.chat_server import create_app as chat_server
from retrieval.openai_server import serve
from serve_process import serve_process

from docchat.config import Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

StartServer = Callable[..., httpx.Client]
HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
#: All that the slow model would stream.
SLOW_TEXT = "".join(f" word{i}" for i in range(500))


@pytest.fixture
def slow_model() -> Iterator[str]:
    """An OpenAI-compatible server that streams a chunk every 20 ms for 10 s."""
    with serve(chat_server()) as url:
        yield f"{url}/fault/slow/v1"


@pytest.mark.slow
def test_a_server_killed_mid_stream_loses_nothing(
    api_settings: Settings,
    embedder: MiniLMEmbedder,
    slow_model: str,
    start_server: StartServer,
    corpora: Corpora,
) -> None:
    corpora.copy_into(api_settings, [HANDBOOK])
    workspace = Workspace(api_settings, embedder=embedder)
    try:
        sid = workspace.sessions.create(title="t").id
        workspace.sessions.append(sid, "user", "an earlier question")
    finally:
        workspace.close()
    models = {"slow": {"provider": "openai", "base_url": slow_model, "model": "m"}}
    with serve_process(
        api_settings.data_dir,
        database_url=api_settings.effective_database_url.get_secret_value(),
        env={"DOCCHAT_LLM__MODELS": json.dumps(models)},
    ) as server:
        process, url = server.process, server.url
        tokens = 0
        streamed = ""
        with httpx.stream(
            "POST",
            f"{url}/api/sessions/{sid}/chat/stream",
            json={"question": "How long is CCTV footage kept?", "model": "slow"},
            timeout=60,
        ) as response:
            assert response.status_code == 200
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "token":
                    tokens += 1
                    streamed += json.loads(line.removeprefix("data: "))["text"]
                # Mid-answer, 2 s in (a token every 20 ms): past the first save (1 s).
                if tokens >= 100:
                    os.kill(process.pid, signal.SIGKILL)
                    break
        process.wait()

    client = start_server(api_settings)
    messages = client.get(f"/api/sessions/{sid}/messages").json()["items"]
    assert [(m["role"], m["position"]) for m in messages] == [
        ("user", 0),
        ("user", 1),
        ("assistant", 2),
    ]
    assert messages[1]["content"] == "How long is CCTV footage kept?"
    turn_id = messages[1]["metadata"]["turn_id"]
    answer = messages[2]
    assert answer["metadata"]["status"] == "interrupted"
    assert answer["metadata"]["partial"] is True
    assert answer["metadata"]["turn_id"] == turn_id
    # The text produced until the last save before the kill (saved once a second): the slow
    # model's words in order, a second's worth at least.
    assert SLOW_TEXT.startswith(answer["content"]) and streamed.startswith(" word0 word1")
    assert answer["content"].count("word") >= 20
    task = client.get(f"/api/tasks/{turn_id}").json()
    assert task["kind"] == "chat"
    assert task["status"] == "interrupted"
    assert task["finished_at"] is not None
    # The session goes on; the interrupted answer stays as it is.
    again = client.post(
        f"/api/sessions/{sid}/chat", json={"question": "How long is CCTV footage kept?"}
    )
    assert again.status_code == 200 and "28 days" in again.json()["answer"]
    after = client.get(f"/api/sessions/{sid}/messages").json()["items"]
    assert after[2] == answer
    assert [m["role"] for m in after[3:]] == ["user", "assistant"]
    assert "status" not in after[4]["metadata"]


@pytest.mark.slow
def test_a_server_stopped_mid_stream_finishes_the_answer_and_hands_its_tasks_back(
    api_settings: Settings,
    embedder: MiniLMEmbedder,
    slow_model: str,
    start_server: StartServer,
    corpora: Corpora,
) -> None:
    corpora.copy_into(api_settings, [HANDBOOK])
    workspace = Workspace(api_settings, embedder=embedder)
    try:
        streamed_sid = workspace.sessions.create(title="streamed").id
        background_sid = workspace.sessions.create(title="background").id
    finally:
        workspace.close()
    models = {"slow": {"provider": "openai", "base_url": slow_model, "model": "m"}}
    with serve_process(
        api_settings.data_dir,
        database_url=api_settings.effective_database_url.get_secret_value(),
        env={"DOCCHAT_LLM__MODELS": json.dumps(models)},
    ) as server:
        process, url = server.process, server.url
        # A full reading asks the slow model (10 s a reply) once per handbook document: still
        # running when the stream below has finished.
        accepted = httpx.post(
            f"{url}/api/sessions/{background_sid}/chat",
            json={"question": "What do the policies say?", "model": "slow", "mode": "full_reading"},
            timeout=60,
        )
        assert accepted.status_code == 202, accepted.text
        task_id = accepted.json()["task_id"]
        tokens, streamed, events = 0, "", []
        with httpx.stream(
            "POST",
            f"{url}/api/sessions/{streamed_sid}/chat/stream",
            json={"question": "How long is CCTV footage kept?", "model": "slow"},
            timeout=60,
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))
                elif line.startswith("data: ") and events[-1] == "token":
                    tokens += 1
                    streamed += json.loads(line.removeprefix("data: "))["text"]
                    if tokens == 50:  # a second in, 9 s of the answer to come
                        process.send_signal(signal.SIGTERM)
                        # The server takes no new request while it lets this one finish
                        # (once its loop has handled the signal: on busy cores, not at once).
                        refused_by = time.monotonic() + 10
                        while True:
                            try:
                                httpx.get(f"{url}/healthz", timeout=5)
                            except httpx.TransportError:
                                break
                            assert time.monotonic() < refused_by, "still serving after SIGTERM"
                            time.sleep(0.1)
        # uvicorn stops, then signals itself again with SIGTERM to report how it was stopped.
        assert process.wait(timeout=60) == -signal.SIGTERM
    assert events[-1] == "done" and streamed == SLOW_TEXT

    client = start_server(api_settings)
    messages = client.get(f"/api/sessions/{streamed_sid}/messages").json()["items"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    answer = messages[1]["metadata"]
    assert answer["model_reply"] == SLOW_TEXT  # the whole reply, not a part
    assert "partial" not in answer and "status" not in answer
    turn = client.get(f"/api/tasks/{messages[0]['metadata']['turn_id']}").json()
    assert turn["status"] == "succeeded"
    # The background turn was stopped when the server closed: interrupted, its question kept.
    task = client.get(f"/api/tasks/{task_id}").json()
    assert task["status"] == "interrupted", task
    assert [e["code"] for e in task["errors"]] == ["interrupted"]
    background = client.get(f"/api/sessions/{background_sid}/messages").json()["items"]
    assert [m["role"] for m in background] == ["user", "assistant"]
    assert background[1]["metadata"]["partial"] is True
