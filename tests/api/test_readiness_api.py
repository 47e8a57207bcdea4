"""``/readyz``: 200 when the database answers, its schema is current and the task runner runs;
503 naming what is not ready otherwise.  On a SQLite file and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from corpora import Corpora
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.conftest import ExpectError, StartServer
from docchat.api.app import create_app
from docchat.config import Settings
from docchat.db import Database
from docchat.migrations import head_revision, upgrade
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

OnDatabase = Callable[[Database], FastAPI]


@pytest.fixture
def app_on(api_settings: Settings, embedder: MiniLMEmbedder) -> OnDatabase:
    """Factory: an app whose workspace uses ``database`` as it is (not migrated at start)."""

    def make(database: Database) -> FastAPI:
        return create_app(
            api_settings,
            workspace=lambda s: Workspace(s, database=database, embedder=embedder),
        )

    return make


def not_ready(response: httpx.Response, expect_error: ExpectError) -> list[dict[str, str]]:
    error = expect_error(response, 503, "not_ready")
    details: list[dict[str, str]] = error["details"]
    for detail in details:
        assert detail["msg"] in error["message"]
    return details


def test_ready(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}
    assert client.head("/readyz").status_code == 200


def test_openapi_documents_the_503(client: httpx.Client) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/readyz"]["get"]
    assert operation["operationId"] == "ready"
    assert operation["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }


def test_not_ready_while_the_schema_is_behind(
    api_settings: Settings,
    app_on: OnDatabase,
    start_server: StartServer,
    expect_error: ExpectError,
) -> None:
    # A rolling upgrade: this server started on a database another process has yet to migrate.
    database = Database.from_settings(api_settings, migrate=False)
    upgrade(database.engine, "0009")
    assert head_revision() != "0009"
    client = start_server(api_settings, app=app_on(database))
    details = not_ready(client.get("/readyz"), expect_error)
    assert details == [
        {"check": "schema", "msg": "the database schema is older than this docchat's"}
    ]
    # Once migrated (by whichever process), the same server is ready without a restart.
    upgrade(database.engine)
    assert client.get("/readyz").status_code == 200


def test_not_ready_when_a_newer_docchat_migrated_the_database(
    api_settings: Settings,
    corpora: Corpora,
    app_on: OnDatabase,
    start_server: StartServer,
    expect_error: ExpectError,
) -> None:
    corpora.copy_into(api_settings, [])
    database = Database.from_settings(api_settings, migrate=False)
    client = start_server(api_settings, app=app_on(database))
    assert client.get("/readyz").status_code == 200
    with database.write() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    details = not_ready(client.get("/readyz"), expect_error)
    assert details == [
        {"check": "schema", "msg": "the database schema is newer than this docchat's"}
    ]


def test_not_ready_when_the_database_does_not_answer(
    api_settings: Settings,
    backend: str,
    corpora: Corpora,
    app_on: OnDatabase,
    start_server: StartServer,
    expect_error: ExpectError,
    request: pytest.FixtureRequest,
) -> None:
    corpora.copy_into(api_settings, [])
    database = Database.from_settings(api_settings, migrate=False)
    client = start_server(api_settings, app=app_on(database))
    assert client.get("/readyz").status_code == 200
    url = make_url(api_settings.effective_database_url.get_secret_value())
    if backend == "postgresql":
        # The database goes away under the server; its pooled connections with it.
        admin = create_engine(request.getfixturevalue("pg_admin_url"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
        admin.dispose()
        moved = None
    else:
        # The file is gone (its volume unmounted, say): a folder where it was cannot be opened,
        # even by root.  Pooled connections would still read the unlinked file, so the pool is
        # emptied as it would be when its connections are recycled.
        path = Path(str(url.database))
        moved = path.with_name("moved.db")
        path.rename(moved)
        path.mkdir()
        database.engine.dispose()
    try:
        response = client.get("/readyz")
        details = not_ready(response, expect_error)
        assert details == [{"check": "database", "msg": "the database does not answer"}]
        assert "sqlite" not in response.text.lower() and "psycopg" not in response.text.lower()
    finally:
        if moved is not None:  # the server closes its workspace cleanly on the file
            path.rmdir()
            moved.rename(path)
