"""``docchat users`` end to end through Typer's test runner on a SQLite data dir, checked against
the library (``Accounts``); and ``docchat serve``'s refusal to serve everyone with accounts off,
in a real process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_process import serve_process
from typer.testing import CliRunner, Result

from docchat.accounts import Accounts
from docchat.config import Settings
from docchat.db import Database
from docchat.sessions.store import SessionStore

runner = CliRunner()
HANDBOOK = Path(__file__).parent / "data" / "handbook"
PASSWORD = "correct horse battery"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    # Wide output, so tables do not wrap the values the tests look for.
    return {"DOCCHAT_DATA_DIR": str(data_dir), "COLUMNS": "200", **extra}


def run(data_dir: Path, *args: str, input: str | None = None, **env: str) -> Result:
    """``docchat ARGS`` on the data dir; the result has ``stdout`` and ``output`` (with stderr)."""
    from docchat.cli import app

    result = runner.invoke(app, list(args), input=input, env=_env(data_dir, **env))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def listed(data_dir: Path) -> dict[str, dict[str, Any]]:
    """``users list --json`` by user name."""
    result = run(data_dir, "users", "list", "--json")
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.stdout.splitlines()]
    return {item["user"]["username"]: item for item in items}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def accounts(data_dir: Path) -> Iterator[Accounts]:
    """The data dir's accounts, as the library sees them (opened after the first command)."""
    settings = Settings(data_dir=data_dir)
    db = Database.from_settings(settings)
    yield Accounts(db, settings.auth)
    db.dispose()


def test_create_list_disable_enable(data_dir: Path) -> None:
    created = run(
        data_dir,
        "users",
        "create",
        "Alice",
        "--admin",
        "--name",
        "Alice A.",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    assert "Created admin alice." in created.stdout
    assert "Accounts are off" in created.output  # a hint: the default mode checks nobody
    # Without --password-stdin the password is asked twice, without echo.
    prompted = run(data_dir, "users", "create", "bob", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert "Created user bob." in prompted.stdout
    assert PASSWORD not in prompted.output

    users = listed(data_dir)
    assert set(users) == {"alice", "bob"}
    alice = users["alice"]
    assert (alice["user"]["is_admin"], alice["user"]["display_name"]) == (True, "Alice A.")
    assert (alice["sessions"], alice["messages"], alice["documents"]) == (0, 0, 0)
    assert "password_hash" not in json.dumps(users)
    assert users["bob"]["user"]["is_admin"] is False

    table = run(data_dir, "users", "list")
    assert table.exit_code == 0, table.output
    assert "alice" in table.stdout and "admin" in table.stdout and "never" in table.stdout

    disabled = run(data_dir, "users", "disable", "BOB")
    assert disabled.exit_code == 0, disabled.output
    assert "Disabled bob." in disabled.stdout
    assert listed(data_dir)["bob"]["user"]["disabled"] is True
    enabled = run(data_dir, "users", "enable", "bob")
    assert enabled.exit_code == 0, enabled.output
    assert listed(data_dir)["bob"]["user"]["disabled"] is False


def test_create_refuses_what_it_cannot_make(data_dir: Path) -> None:
    first = run(data_dir, "users", "create", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert first.exit_code == 0, first.output
    cases = [
        (["alice", "--password-stdin"], PASSWORD + "\n", "exists already"),
        (["carol", "--password-stdin"], "short\n", "at least 12 characters"),
        (["carol", "--password-stdin"], "", "no password on stdin"),
        (["carol"], f"{PASSWORD}\n{PASSWORD}x\n", "the two passwords differ"),
        (["bad name", "--password-stdin"], PASSWORD + "\n", "may not contain spaces"),
    ]
    for args, given, message in cases:
        result = run(data_dir, "users", "create", *args, input=given)
        assert result.exit_code == 1, result.output
        assert message in result.output
    assert set(listed(data_dir)) == {"alice"}
    for command in ("disable", "enable", "reset-password", "token"):
        unknown = run(data_dir, "users", command, "nobody", input=PASSWORD + "\n")
        assert unknown.exit_code == 1, unknown.output
        assert "no user 'nobody'" in unknown.output


def test_reset_password_ends_the_logins(data_dir: Path, accounts: Accounts) -> None:
    made = run(data_dir, "users", "create", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    login = accounts.login("alice", PASSWORD, address="127.0.0.1")
    new_password = "a brand new passphrase"
    short = run(data_dir, "users", "reset-password", "alice", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    assert accounts.by_login(login.cookie) is not None
    reset = run(
        data_dir, "users", "reset-password", "alice", "--password-stdin", input=new_password + "\n"
    )
    assert reset.exit_code == 0, reset.output
    assert "New password set for alice." in reset.stdout
    assert accounts.by_login(login.cookie) is None
    assert accounts.login("alice", new_password, address="127.0.0.1").user.username == "alice"


def test_token_prints_a_working_token_only(data_dir: Path, accounts: Accounts) -> None:
    made = run(data_dir, "users", "create", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    result = run(data_dir, "users", "token", "Alice", "--name", "ci", "--days", "30")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("dct_") and "\n" not in token  # stdout: the token, for scripts
    assert "'ci' for alice" in result.output
    principal = accounts.by_token(token)
    assert principal is not None and principal.user.username == "alice"
    (info,) = accounts.tokens(principal.owner)
    assert info.name == "ci" and info.expires_at is not None
    too_long = run(data_dir, "users", "token", "alice", "--days", "100000")
    assert too_long.exit_code == 1 and "3650 days" in too_long.output
    assert len(accounts.tokens(principal.owner)) == 1


def test_create_adopt_existing_gives_the_user_what_was_there(data_dir: Path) -> None:
    files = [str(HANDBOOK / "expense-policy.md"), str(HANDBOOK / "faq-x100.md")]
    ingested = run(data_dir, "ingest", *files, "--no-embed")
    assert ingested.exit_code == 0, ingested.output
    store = SessionStore.from_settings(Settings(data_dir=data_dir))
    try:
        for title in ("one", "two"):
            store.create(title=title)
    finally:
        store.db.dispose()
    result = run(
        data_dir,
        "users",
        "create",
        "alice",
        "--adopt-existing",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "Adopted: 1 collection, 2 sessions, 2 documents, 0 tasks." in result.stdout
    alice = listed(data_dir)["alice"]
    assert (alice["sessions"], alice["documents"]) == (2, 2)
    # The next user finds nothing left to adopt.
    again = run(
        data_dir,
        "users",
        "create",
        "bob",
        "--adopt-existing",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert again.exit_code == 0, again.output
    assert "Adopted: 0 collections, 0 sessions, 0 documents, 0 tasks." in again.stdout


# -- serve with accounts off ---------------------------------------------------------------------


def test_serve_refuses_every_interface_with_accounts_off(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    environ = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            "from docchat.cli import app; app()",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        env={**environ, "DOCCHAT_DATA_DIR": str(data_dir), "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2, process.stderr
    said = " ".join(process.stderr.split())
    assert "refusing to serve on 0.0.0.0 without accounts" in said
    assert "--insecure-no-auth" in said
    assert "Traceback" not in said
    # It stopped before the app was made: no database was even created.
    assert not (data_dir / "docchat.db").exists()


def test_serve_on_every_interface_with_insecure_no_auth(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve_process(
        data_dir, host="0.0.0.0", args=["--insecure-no-auth"], capture_output=True
    ) as server:
        try:
            assert httpx.get(f"{server.url}/healthz", timeout=5).json() == {"status": "ok"}
            me = httpx.get(f"{server.url}/api/me", timeout=5).json()
            assert me["auth_mode"] == "none"
        finally:
            server.process.send_signal(signal.SIGINT)
            output = server.process.communicate(timeout=30)[0].decode()
    assert server.process.returncode == 0, output
