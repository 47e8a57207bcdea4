"""``GET /api/modes`` (the web app's mode list) and ``GET /v1/models`` read the mode registry: a
fifth mode registered before the server starts is listed and answers, with nothing else changed."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from docchat.config import Settings
from tests.chat.fifth_mode import NAME, registered

StartServer = Callable[..., httpx.Client]


def test_modes_are_listed_from_the_registry(client: httpx.Client) -> None:
    response = client.get("/api/modes")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [m["name"] for m in items] == ["basic", "extensive", "full_reading", "deep_reflection"]
    assert {m["name"]: m["background"] for m in items} == {
        "basic": False,
        "extensive": False,
        "full_reading": True,
        "deep_reflection": True,
    }
    assert items[2]["label"] == "Full reading"
    assert "chat.full_reading_max_tokens" in items[2]["budgets"]


def test_a_fifth_mode_is_listed_and_answers(
    api_settings: Settings, start_server: StartServer
) -> None:
    with registered():
        client = start_server(api_settings)
        listed = client.get("/api/modes").json()["items"]
        assert listed[-1] == {
            "name": NAME,
            "label": "Echo",
            "description": "says the question back",
            "background": False,
            "budgets": [],
        }
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert f"docchat-{NAME}" in ids
        completion = client.post(
            "/v1/chat/completions",
            json={"model": f"docchat-{NAME}", "messages": [{"role": "user", "content": "Hi?"}]},
        )
        assert completion.status_code == 200, completion.text
        assert completion.json()["choices"][0]["message"]["content"] == "You asked: Hi?"
        sid = client.post("/api/sessions", json={"settings": {"mode": NAME}}).json()["id"]
        answer = client.post(f"/api/sessions/{sid}/chat", json={"question": "Here?"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["metadata"]["mode"] == NAME
