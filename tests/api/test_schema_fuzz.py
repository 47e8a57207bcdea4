"""Schemathesis over the whole OpenAPI schema, against a real server on each database backend.

Every operation gets schema-driven examples, boundary values, random valid and invalid inputs,
then stateful sequences (create a session, then use its id; upload, then poll the task named by
``Location``).  Checks: no 5xx, every response (status, content type, headers, body) matches the
schema, invalid input is refused, ``Allow`` lists what a path supports, a deleted resource is
gone and a created one is there.

Left out (``schemathesis.toml`` beside this file): ``positive_data_acceptance``, which expects
anything the schema admits to succeed.  The schema cannot say that a cursor must be one the server
handed out, that a string may not hold NUL (no database stores it), or that a multipart body must
carry a file; those are refused with a 422 that names the field, as they should be.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from corpora import Corpora
from llm_server import LlamaServer

from docchat.config import AuthSettings, Settings

from .conftest import MakeApp, StartServer, with_local_models_served

#: Examples per operation in the fuzzing and stateful phases; the examples and coverage phases
#: (schema examples, every boundary and invalid value) do not depend on it.  12 runs every
#: operation and link with random data at a third of the cost of 40; the seed makes a failure
#: reproducible (raise either to dig: DOCCHAT_FUZZ_EXAMPLES=100).
MAX_EXAMPLES = int(os.environ.get("DOCCHAT_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("DOCCHAT_FUZZ_SEED", "20261130"))
CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_nothing(
    api_settings: Settings,
    start_server: StartServer,
    corpora: Corpora,
    wide_smollm2_server: LlamaServer,
    tmp_path: Path,
) -> None:
    corpora.copy_into(api_settings, [])
    client = start_server(with_local_models_served(api_settings, wide_smollm2_server))
    _run_schemathesis(client, tmp_path)


@pytest.mark.one_backend  # the sign-in layer in front of the routes is what differs
def test_schemathesis_finds_nothing_with_accounts_on(
    api_settings: Settings,
    make_app: MakeApp,
    start_server: StartServer,
    corpora: Corpora,
    wide_smollm2_server: LlamaServer,
    tmp_path: Path,
) -> None:
    """The same run as an admin with an API token, through the authentication middleware and
    with the account routes (tokens, users, shares) live."""
    settings = with_local_models_served(api_settings, wide_smollm2_server).model_copy(
        update={"auth": AuthSettings(mode="accounts")}
    )
    corpora.copy_into(settings, [])
    app = make_app(settings)
    client = start_server(settings, app)
    accounts = app.state.workspace.accounts
    admin = accounts.create_user("fuzzer", "correct horse battery staple", admin=True)
    token = accounts.create_token(admin.id, "schemathesis").token
    assert client.get("/api/sessions").status_code == 401  # it is on
    client.headers["Authorization"] = f"Bearer {token}"  # for the schema read after the run
    # Revoking tokens is left out: the run would revoke its own (ids are learnt from
    # GET /api/tokens) and every later request would be a 401.  tests/api/test_auth_api.py and
    # test_isolation.py try that route.
    _run_schemathesis(
        client,
        tmp_path,
        "--header",
        f"Authorization: Bearer {token}",
        "--exclude-operation-id",
        "revoke_token",
        left_out=1,
    )


def _run_schemathesis(client: httpx.Client, tmp_path: Path, *extra: str, left_out: int = 0) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "--config-file",
        str(CONFIG),
        "run",
        f"{client.base_url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",  # `--checks all` overrides the config file's `enabled = false`
        "positive_data_acceptance",
        "--phases",
        "examples,coverage,fuzzing,stateful",
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
        *extra,
    ]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    output = result.stdout + result.stderr
    if os.environ.get("SCHEMATHESIS_REPORT"):  # the whole report, for digging into a failure
        Path(os.environ["SCHEMATHESIS_REPORT"]).write_text(output)
    assert result.returncode == 0, output[-20_000:]
    assert "API Operations" in output  # it really ran
    # Every operation the server publishes was run, none filtered out or skipped.
    schema = client.get("/openapi.json").json()
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    published = sum(1 for item in schema["paths"].values() for method in item if method in methods)
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    assert selected is not None, output[-5_000:]
    assert (int(selected[1]), int(selected[2])) == (published - left_out, published), selected[0]
