"""The OpenAPI schema says what the server accepts: a request the schema admits is not refused.

Generated clients and fuzzers send any value the schema allows.  Two kinds were refused: a
whole number written as a float (``"num_results": 199.0`` is an integer to JSON Schema) and a
model name the schema left free (the server knows only the configured ones).  Besides direct
checks, schemathesis runs its positive-data check (anything the schema admits must succeed; a
question and instructions too long for the model's window, a 422 of its own code, excepted: see
schema_checks.py) on the operations whose inputs these are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from llm_server import LlamaServer

from docchat.config import ModelSettings, Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

from .conftest import ExpectError, StartServer, with_local_models_served

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
#: Random examples per operation in the fuzzing phase (the coverage phase's boundary values do
#: not depend on it): 10 keeps each operation's random inputs at well under half the cost of 25.
MAX_EXAMPLES = int(os.environ.get("DOCCHAT_CONFORMANCE_EXAMPLES", "10"))
SEED = int(os.environ.get("DOCCHAT_FUZZ_SEED", "20261130"))
OPERATIONS = ("create_session", "update_session_settings", "search_documents", "chat")


@pytest.fixture
def server(api_settings: Settings, start_server: StartServer) -> httpx.Client:
    """A server with one configured model besides the built-in ones (never called here)."""
    remote = ModelSettings(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0)
    llm = api_settings.llm.model_copy(update={"models": {"remote": remote}})
    return start_server(api_settings.model_copy(update={"llm": llm}))


def _property(spec: dict[str, Any], component: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][component]["properties"][name]
    return schema


def _enum(schema: dict[str, Any]) -> list[str]:
    """The names an optional string enum allows."""
    options = schema.get("anyOf", [schema])
    (named,) = (option for option in options if "enum" in option)
    assert {"type": "null"} in options or "anyOf" not in schema
    values: list[str] = named["enum"]
    return values


def test_model_fields_list_the_models_the_server_knows(
    server: httpx.Client, expect_error: ExpectError
) -> None:
    spec = server.get("/openapi.json").json()
    names = ["extractive", "smollm2", "qwen-0.5b", "remote"]
    assert _enum(_property(spec, "ChatRequest", "model")) == names
    assert _enum(_property(spec, "SettingsUpdate", "model")) == names
    settings_ref = _property(spec, "SessionCreate", "settings")["anyOf"][0]["$ref"]
    new_settings = spec["components"]["schemas"][settings_ref.rsplit("/", 1)[1]]
    assert _enum(new_settings["properties"]["model"]) == names
    # A stored session may name a model configured once: the response schema stays open.
    assert "enum" not in str(_property(spec, "ChatSettings", "model"))
    ids = _enum(_property(spec, "CompletionRequest", "model"))
    assert "docchat-basic" in ids and "docchat-deep_reflection:remote" in ids
    assert "docchat-basic:extractive" not in ids  # the default model goes without a suffix

    sid = server.post("/api/sessions", json={"settings": {"model": "remote"}}).json()["id"]
    for name in names:
        response = server.put(f"/api/sessions/{sid}/settings", json={"model": name})
        assert response.status_code == 200, response.text
    expect_error(server.put(f"/api/sessions/{sid}/settings", json={"model": "other"}), 422)


def test_whole_numbers_written_as_floats_are_integers(
    server: httpx.Client, expect_error: ExpectError
) -> None:
    response = server.post("/api/search", json={"query": "cctv", "num_results": 199.0})
    assert response.status_code == 200, response.text
    sid = server.post("/api/sessions").json()["id"]
    options = {"num_results": 5.0, "memory_turns": 38.0, "max_tokens": 100.0}
    response = server.put(f"/api/sessions/{sid}/settings", json={"options": options})
    assert response.status_code == 200, response.text
    stored = server.get(f"/api/sessions/{sid}").json()["settings"]["options"]
    assert (stored["num_results"], stored["memory_turns"], stored["max_tokens"]) == (5, 38, 100)
    assert isinstance(stored["num_results"], int)
    for wrong in (5.5, True, "5", 201.0):
        body = {"options": {"num_results": wrong}}
        error = expect_error(server.put(f"/api/sessions/{sid}/settings", json=body), 422)
        assert error["field"] == "options.num_results"


def test_what_the_schema_admits_is_accepted(
    settings: Settings,
    embedder: MiniLMEmbedder,
    start_server: StartServer,
    tmp_path: Path,
    wide_smollm2_server: LlamaServer,
) -> None:
    # The default limits: the small ones of `api_settings` refuse questions the schema admits.
    settings = with_local_models_served(settings, wide_smollm2_server)
    workspace = Workspace(settings, embedder=embedder)
    try:
        workspace.ingest([HANDBOOK / "data-retention.md"])
    finally:
        workspace.close()
    client = start_server(settings)
    sid = client.post("/api/sessions").json()["id"]
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.session_id" = "{sid}"\n')
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{client.base_url}/openapi.json",
        *(arg for op in OPERATIONS for arg in ("--include-operation-id", op)),
        "--checks",
        "accepted_within_the_models_window,not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        "--mode",
        "positive",
        # No database stores NUL, so no string may hold it (a 422 naming the field); JSON
        # Schema could say so only with a pattern on every string.
        "--generation-allow-x00",
        "false",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        # What is checked is the answer, not its speed: a turn in a long mode is several model
        # calls, which on 2 busy cores may take more than 30 s.
        "--request-timeout",
        "120",
        "--suppress-health-check",
        "all",
        "--output-truncate",
        "true",
    ]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "NO_COLOR": "1",
            "SCHEMATHESIS_HOOKS": "schema_checks",  # tests/api/schema_checks.py
            "PYTHONPATH": str(Path(__file__).parent),
        },
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    assert f"Selected: {len(OPERATIONS)}/" in output  # it ran what it was meant to


def test_a_question_too_long_for_the_models_window_is_refused_with_its_own_code(
    settings: Settings,
    embedder: MiniLMEmbedder,
    start_server: StartServer,
    smollm2_server: LlamaServer,
    expect_error: ExpectError,
) -> None:
    """The schema admits 4,000 characters; as emoji they are some 16,000 tokens, eight times
    SmolLM2's 2,048-token window.  The server says so (a 422 a client can tell from a malformed
    request) instead of sending the prompt and reporting the model's empty reply as a 502."""
    settings = with_local_models_served(settings, smollm2_server)
    workspace = Workspace(settings, embedder=embedder)
    try:
        workspace.ingest([HANDBOOK / "data-retention.md"])
    finally:
        workspace.close()
    client = start_server(settings)
    sid = client.post("/api/sessions").json()["id"]
    question = "How long is CCTV footage kept? " + "📄" * 3960
    for mode in ("basic", "extensive"):  # extensive asks the model for search queries first
        body = {"question": question, "model": "smollm2", "mode": mode}
        error = expect_error(client.post(f"/api/sessions/{sid}/chat", json=body), 422)
        assert error["code"] == "context_length_exceeded"
        assert "2048-token window" in error["message"]
    # The refused questions are in the session's memory: the next turn leaves them out.
    body = {"question": "How long is CCTV footage kept?", "model": "smollm2"}
    response = client.post(f"/api/sessions/{sid}/chat", json=body)
    assert response.status_code == 200, response.text
