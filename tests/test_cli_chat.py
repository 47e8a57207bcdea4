"""The chat commands end to end: ask, chat, sessions, models, on the handbook (tests/data) with the
offline extractive answerer, through Typer's test runner on one SQLite data dir per module.

Model failures use the misbehaving chat server of tests/llm; Ctrl-C runs ``docchat ask`` in a
subprocess, since only a real process receives a real SIGINT.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from llm.chat_server import create_app
from retrieval.openai_server import serve
from typer.testing import CliRunner, Result

from docchat.cli import app, core
from docchat.options import mode_names
from docchat.sessions.store import ExportFileFormat

runner = CliRunner()

HANDBOOK = Path(__file__).parent / "data" / "handbook"
CCTV = "How long is CCTV footage kept?"
ANSWER_KEYS = {
    "answer",
    "references",
    "metadata",
    "session_id",
    "user_message_id",
    "assistant_message_id",
}
TURN_LINE = re.compile(
    r"session: (?P<id>[\w-]+) · mode: (?P<mode>\w+) · model: (?P<model>\S+) · "
    r"abstained: (?P<abstained>yes|no)"
)


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    # Wide output, so tables do not wrap the values the tests look for.
    return {"DOCCHAT_DATA_DIR": str(data_dir), "COLUMNS": "200", **extra}


def run(data_dir: Path, *args: str, input: str | None = None, **env: str) -> Result:
    """``docchat ARGS`` on the data dir; the result has ``stdout`` and ``output`` (with stderr)."""
    return runner.invoke(app, list(args), input=input, env=_env(data_dir, **env))


def turn_lines(stdout: str) -> list[dict[str, str]]:
    """The summary line of every turn printed."""
    return [m.groupdict() for m in TURN_LINE.finditer(stdout)]


def ask_json(data_dir: Path, *args: str) -> dict[str, Any]:
    result = run(data_dir, "ask", *args, "--json")
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def stored(data_dir: Path, session_id: str) -> dict[str, Any]:
    result = run(data_dir, "sessions", "show", session_id, "--json")
    assert result.exit_code == 0, result.output
    session: dict[str, Any] = json.loads(result.stdout)
    return session


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data dir with the handbook ingested, shared by the module (each test makes its own
    sessions, so none depends on another's)."""
    root = tmp_path_factory.mktemp("chat")
    with pytest.MonkeyPatch.context() as mp:
        # Module fixtures run before the autouse isolation of conftest: isolate here too.
        for key in list(os.environ):
            if key.startswith("DOCCHAT_") and key != "DOCCHAT_TEST_DATABASE_URL":
                mp.delenv(key)
        mp.setenv("HOME", str(root))
        result = run(root / "data", "ingest", str(HANDBOOK))
        assert result.exit_code == 0, result.output
        yield root / "data"


@pytest.fixture(scope="module")
def chat_url() -> Iterator[str]:
    """Base URL of the misbehaving chat server (tests/llm/chat_server.py)."""
    with serve(create_app()) as url:
        yield url


def _models(**models: str) -> str:
    """DOCCHAT_LLM__MODELS naming OpenAI-compatible servers by their base URL."""
    return json.dumps({name: {"base_url": url, "max_retries": 0} for name, url in models.items()})


def test_the_choices_match_the_library() -> None:
    # The chat modes are the registry's names, read from docchat.options (which loads no
    # retrieval stack); the export formats are spelled out in docchat/cli/core.py.
    parse = core.chat_mode_parser()
    assert [parse(m) for m in mode_names()] == list(mode_names())
    with pytest.raises(ValueError, match="'telepathy' is not one of 'basic'"):
        parse("telepathy")
    assert core.chat_mode_metavar() == "<" + "|".join(mode_names()) + ">"
    assert get_args(core.ExportFormat) == get_args(ExportFileFormat)


# -- ask ----------------------------------------------------------------------------------------


def test_ask_prints_the_answer_then_its_references(data: Path) -> None:
    result = run(data, "ask", CCTV)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("28 days") < out.index("References")
    row = next(line for line in out.splitlines() if "data-retention.md" in line)
    assert re.match(r"\s*1\s+data-retention\.md\s+Data retention schedule\s+CCTV footage", row)
    (line,) = turn_lines(out)
    assert line["mode"] == "basic"
    assert line["model"] == "extractive"
    assert line["abstained"] == "no"
    messages = stored(data, line["id"])["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == CCTV
    assert "28 days" in messages[1]["content"]
    assert result.stderr == ""


def test_ask_json_then_a_follow_up_in_the_same_session(data: Path) -> None:
    first = ask_json(data, CCTV)
    assert set(first) == ANSWER_KEYS
    assert "28 days" in first["answer"]
    ref = first["references"][0]
    assert ref["n"] == 1
    assert ref["file_name"] == "data-retention.md"
    assert "28 days" in ref["quote"]
    assert first["metadata"]["model"] == "extractive"
    assert first["metadata"]["abstained"] is False

    sid = first["session_id"]
    follow_up = ask_json(data, "And customer invoices?", "--session", sid)
    assert follow_up["session_id"] == sid
    assert "7 years" in follow_up["answer"]
    messages = stored(data, sid)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 2
    ids = [m["id"] for m in messages]
    assert ids == [
        first["user_message_id"],
        first["assistant_message_id"],
        follow_up["user_message_id"],
        follow_up["assistant_message_id"],
    ]
    assert messages[-1]["references"][0]["quote"] == follow_up["references"][0]["quote"]


def test_ask_abstains_distinctly_with_the_closest_passages(data: Path) -> None:
    result = run(data, "ask", "What is the capital of Mars?")
    assert result.exit_code == 0, result.output
    assert "Abstained:" in result.stdout
    assert "Closest passages (not cited)" in result.stdout
    assert "References" not in result.stdout
    assert turn_lines(result.stdout)[0]["abstained"] == "yes"
    as_json = ask_json(data, "What is the capital of Mars?")
    assert as_json["metadata"]["abstained"] is True
    assert as_json["references"] == []
    assert as_json["metadata"]["closest"]


def test_ask_passes_its_options(data: Path) -> None:
    answer = ask_json(
        data,
        CCTV,
        "--glob",
        "vacation*",
        "--keyword",
        "leave",
        "--num-results",
        "3",
        "--mode",
        "extensive",
        "--language",
        "English",
        "--instructions",
        "Be brief.",
    )
    meta = answer["metadata"]
    assert meta["mode"] == "extensive"
    options = meta["options"]
    assert options["source_filters"]["file_globs"] == ["vacation*"]
    assert options["manual_keywords"] == ["leave"]
    assert options["num_results"] == 3
    assert options["output_language"] == "English"
    assert options["custom_instructions"] == "Be brief."
    # Only vacation-policy.md may be drawn from, and it does not answer the question.
    assert meta["abstained"] is True
    assert {c["file_name"] for c in meta["closest"]} == {"vacation-policy.md"}


def test_a_long_mode_reports_progress_on_stderr(data: Path) -> None:
    result = run(data, "ask", CCTV, "--mode", "deep_reflection", "--glob", "data-*")
    assert result.exit_code == 0, result.output
    assert "… drafting an answer" in result.stderr
    assert "drafting" not in result.stdout
    assert "28 days" in result.stdout
    assert turn_lines(result.stdout)[0]["mode"] == "deep_reflection"


def test_ask_usage_and_library_errors(data: Path) -> None:
    unknown = run(data, "ask", CCTV, "--session", "no-such-session")
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "error: chat session 'no-such-session' does not exist"
    model = run(data, "ask", CCTV, "--model", "nope")
    assert model.exit_code == 1
    assert "extractive" in model.output
    empty = run(data, "ask", "   ")
    assert empty.exit_code == 1
    assert "error: question must be a non-empty string" in empty.output
    for args in (
        [],
        [CCTV, "--mode", "fast"],
        [CCTV, "--num-results", "0"],
        [CCTV, "--keyword", "x" * 300],
    ):
        usage = run(data, "ask", *args)
        assert usage.exit_code == 2, (args, usage.output)
    too_long = run(data, "ask", CCTV, "--keyword", "x" * 300)
    assert "error: invalid option: --keyword: String should have at most 200" in too_long.output
    for result in (unknown, model, empty, too_long):
        assert "Traceback" not in result.output
        assert result.stdout == ""


def test_a_model_failure_is_reported_and_the_turn_stored(data: Path, chat_url: str) -> None:
    models = _models(broken=f"{chat_url}/fault/http-500/v1")
    result = run(data, "ask", CCTV, "--model", "broken", DOCCHAT_LLM__MODELS=models)
    assert result.exit_code == 1, result.output
    assert "error:" in result.stderr
    (line,) = turn_lines(result.stdout)
    assert result.stdout.rstrip().endswith("failed")
    assert f"The question and the failed turn are stored in session {line['id']}." in (
        result.stderr
    )
    user, assistant = stored(data, line["id"])["messages"]
    assert user["content"] == CCTV
    assert assistant["metadata"]["error"]["code"] == "provider_error"

    as_json = run(data, "ask", CCTV, "--model", "broken", "--json", DOCCHAT_LLM__MODELS=models)
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["metadata"]["error"]["code"] == "provider_error"
    assert "Traceback" not in result.output + as_json.output


def _slow_docchat(data_dir: Path, chat_url: str, *args: str) -> subprocess.Popen[bytes]:
    """``docchat ARGS`` in a process of its own, with the model ``slow``: the chat server's reply
    of " word0 word1 …", a word every 20 ms for ten seconds."""
    models = _models(slow=f"{chat_url}/fault/slow/v1")
    return subprocess.Popen(
        [sys.executable, "-c", "from docchat.cli import app; app()", *args],
        env={**os.environ, **_env(data_dir, DOCCHAT_LLM__MODELS=models)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _read_until(process: subprocess.Popen[bytes], marker: bytes) -> bytes:
    """What the process wrote to stdout until ``marker``, which must come within a minute."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + 60
    while marker not in seen:
        assert time.monotonic() < deadline, f"no {marker!r} within a minute: {seen!r}"
        ready, _, _ = select.select([process.stdout], [], [], 1)
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            assert chunk, f"docchat ended early: {seen!r}"
            seen += chunk
    return seen


def test_ctrl_c_stops_the_answer_and_keeps_it(data: Path, chat_url: str) -> None:
    process = _slow_docchat(data, chat_url, "ask", CCTV, "--model", "slow")
    try:
        seen = _read_until(process, b"word2")
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=30)
    finally:
        process.kill()
    out = (seen + rest).decode()
    assert process.returncode == 130, out + err.decode()
    assert "Stopped: the partial answer is stored in session" in err.decode()
    (line,) = turn_lines(out)
    assert out.rstrip().endswith("stopped")
    _, assistant = stored(data, line["id"])["messages"]
    assert assistant["metadata"]["cancelled"] is True
    assert assistant["content"].split()[:3] == ["word0", "word1", "word2"]
    assert "word499" not in assistant["content"]


def test_ctrl_c_in_a_chat_stops_the_answer_not_the_chat(data: Path, chat_url: str) -> None:
    process = _slow_docchat(data, chat_url, "chat", "--model", "slow")
    assert process.stdin is not None
    try:
        process.stdin.write(f"{CCTV}\n".encode())
        process.stdin.flush()
        seen = _read_until(process, b"word2")
        process.send_signal(signal.SIGINT)
        seen += _read_until(process, b"you:")  # the next prompt
        rest, err = process.communicate(b"/exit\n", timeout=30)
    finally:
        process.kill()
    out = (seen + rest).decode()
    assert process.returncode == 0, out + err.decode()
    (line,) = turn_lines(out)
    assert out.index("stopped") < out.rindex("you:")
    _, assistant = stored(data, line["id"])["messages"]
    assert assistant["metadata"]["cancelled"] is True


# -- chat ---------------------------------------------------------------------------------------


def test_chat_answers_each_question_in_one_session(data: Path) -> None:
    result = run(data, "chat", input=f"{CCTV}\n\n   \nAnd customer invoices?\n/exit\nignored\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("28 days") < out.index("7 years")
    first, second = turn_lines(out)
    assert first["id"] == second["id"]
    assert "ignored" not in out
    assert "/exit or Ctrl-D ends" in result.stderr
    messages = stored(data, first["id"])["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == [
        CCTV,
        "And customer invoices?",
    ]


def test_chat_new_session_end_of_input_and_resuming(data: Path) -> None:
    result = run(
        data, "chat", "--mode", "extensive", input=f"{CCTV}\n/new\nHow many vacation days?\n"
    )
    assert result.exit_code == 0, result.output  # the end of input ends the chat
    first, second = turn_lines(result.stdout)
    assert first["id"] != second["id"]
    assert first["mode"] == second["mode"] == "extensive"
    assert "25 days" in result.stdout

    resumed = run(data, "chat", "--session", first["id"], input="And customer invoices?\n")
    assert resumed.exit_code == 0, resumed.output
    assert "2 messages so far" in resumed.stderr
    (line,) = turn_lines(resumed.stdout)
    assert line["id"] == first["id"]
    assert len(stored(data, first["id"])["messages"]) == 4


def test_chat_refuses_an_unknown_session_or_model_before_asking(data: Path) -> None:
    session = run(data, "chat", "--session", "no-such-session", input=f"{CCTV}\n")
    assert session.exit_code == 1
    assert "error: chat session 'no-such-session' does not exist" in session.output
    model = run(data, "chat", "--model", "nope", input=f"{CCTV}\n")
    assert model.exit_code == 1
    assert "error: model 'nope' is not one of: extractive" in model.output
    assert "you:" not in session.stdout + model.stdout


# -- sessions -----------------------------------------------------------------------------------


def test_sessions_list_show_and_export(data: Path, tmp_path: Path) -> None:
    sid = ask_json(data, CCTV)["session_id"]

    listed = run(data, "sessions", "list", "--json")
    assert listed.exit_code == 0, listed.output
    sessions = [json.loads(line) for line in listed.stdout.splitlines()]
    mine = next(s for s in sessions if s["id"] == sid)
    assert (mine["title"], mine["message_count"]) == (CCTV, 2)
    newest = run(data, "sessions", "list", "--limit", "1", "--json").stdout.splitlines()
    assert [json.loads(line)["id"] for line in newest] == [sid]
    table = run(data, "sessions", "list")
    assert re.search(rf"{sid}\s+{re.escape(CCTV)}\s+2\s+basic", table.stdout)

    shown = run(data, "sessions", "show", sid)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    user = out.index("user ·")
    assert user < out.index(CCTV, user) < out.index("assistant ·") < out.index("28 days")
    assert "extractive, basic" in out
    assert re.search(r"1\s+data-retention\.md\s+Data retention schedule\s+CCTV footage", out)

    exported = run(data, "sessions", "export", sid)
    assert exported.exit_code == 0, exported.output
    classic = json.loads(exported.stdout)
    assert classic["session_id"] == sid
    assert [m["role"] for m in classic["messages"]] == ["user", "assistant"]
    markdown = run(data, "sessions", "export", sid, "--format", "markdown")
    assert markdown.stdout.startswith(f"# {CCTV}")
    assert "28 days" in markdown.stdout
    target = tmp_path / "session.md"
    written = run(data, "sessions", "export", sid, "-f", "markdown", "--output", str(target))
    assert written.exit_code == 0, written.output
    assert written.stdout == ""
    assert target.read_text(encoding="utf-8") == markdown.stdout


def test_sessions_errors(data: Path) -> None:
    for command in ("show", "export"):
        result = run(data, "sessions", command, "no-such-session")
        assert result.exit_code == 1
        assert result.output.strip() == "error: chat session 'no-such-session' does not exist"
    assert run(data, "sessions", "export", "x", "--format", "odt").exit_code == 2
    assert run(data, "sessions", "show").exit_code == 2
    assert run(data, "sessions", "list", "--limit", "0").exit_code == 2


# -- models -------------------------------------------------------------------------------------


def test_models_lists_the_answerers(data: Path) -> None:
    models = _models(remote="http://127.0.0.1:9/v1")
    result = run(data, "models", "--json", DOCCHAT_LLM__MODELS=models)
    assert result.exit_code == 0, result.output
    found = {m["name"]: m for m in map(json.loads, result.stdout.splitlines())}
    assert found["extractive"]["default"] is True
    assert found["extractive"]["available"] is True
    assert found["remote"]["provider"] == "openai"
    assert found["remote"]["context_window"] == 4096
    table = run(data, "models", DOCCHAT_LLM__MODELS=models)
    assert re.search(r"extractive\s+extractive\s+extractive\s+yes\s+yes", table.stdout)
    assert re.search(r"remote\s+openai\s+remote\s+4,096\s+yes", table.stdout)
