"""Strict per-user isolation over HTTP: user B sees none of user A's data, by any route or face.

One real server per database backend, with accounts on: A (an admin) and B (not) hold API
tokens; A keeps a chat session, two uploaded documents holding a marker word, the upload's task
and a second token.  The tests share that world: they change nothing of it but add turns.

- Every operation of ``/openapi.json`` that takes a path parameter is called by B with A's ids,
  and by B with ids that do not exist: both must be the same 404 (403 on the admin-only
  ``/api/users`` routes), the message differing only by the id.  The operations come from the
  schema, so a route added later is covered without touching this file.
- The listings B may read show none of A's rows.
- B asks about the marker through every face (search, chat, the OpenAI endpoint, MCP) and gets
  nothing of A's; A, asking the same, finds it, so these checks can fail.
- B uploading the very bytes A holds (on a server of its own) is told what a first upload is
  told, and deleting either copy leaves the other's.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import httpx2
import openai
import pytest
from corpora import Corpora
from documents.conftest import pdf_bytes
from event_loops import run_async
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_checks import error_text, structured
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from docchat.api.app import create_app
from docchat.config import AuthSettings, Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace
from tests.conftest import BACKENDS

from .conftest import ExpectError, MakeApp, StartServer, live_server
from .test_documents_api import ingest

#: In A's documents and one of A's messages, nowhere else: what B must never be shown.
MARKER = "zanzibarquux"
#: In A's documents only, never in a question: an answer holding it quotes A's passage.
SECRET = "velvetmorning"
A_TEXT = f"The {MARKER} protocol requires the {SECRET} lantern code at every gate."
QUESTION = f"What does the {MARKER} protocol require?"
B_TEXT = "Tomatoes need full sun, deep watering twice a week and a stake to climb."
PASSWORD = "correct horse battery staple"
#: The operations with a path parameter when this test was written (issue 15): the count found
#: in the schema may grow, never silently shrink to nothing.
KNOWN_OPERATIONS = 23
#: Values for required query parameters the schema cannot give sensibly: a passage's span.
QUERY_VALUES: dict[str, Any] = {"start": 0, "end": 10}
ADMIN_ONLY = "/api/users"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class World:
    """The shared server, the two users' headers, and what A holds."""

    client: httpx.Client
    a: dict[str, str]
    b: dict[str, str]
    a_token: str
    b_token: str
    a_username: str
    a_session: str
    a_documents: tuple[str, str]  # the PDF, then the Markdown file
    a_task: str
    a_token_id: str
    b_session: str
    b_document: str

    @property
    def a_ids(self) -> tuple[str, ...]:
        """Every id of A's that B might be shown by mistake."""
        return (self.a_session, *self.a_documents, self.a_task, self.a_token_id)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    embedder: MiniLMEmbedder,
    corpora: Corpora,
) -> Iterator[World]:
    """One server per backend for the whole module, with A's and B's data in it."""
    backend = str(request.param)
    root = tmp_path_factory.mktemp(f"isolation-{backend}")
    with ExitStack() as stack:
        # What the autouse isolated_env does per test, for a fixture that outlives a test.
        env = stack.enter_context(pytest.MonkeyPatch.context())
        for key in list(os.environ):
            if key.startswith("DOCCHAT_") and key != "DOCCHAT_TEST_DATABASE_URL":
                env.delenv(key)
        (root / "home").mkdir()
        env.setenv("HOME", str(root / "home"))
        if backend == "sqlite":
            url = f"sqlite:///{root / 'docchat.db'}"
        else:
            admin_url = str(request.getfixturevalue("pg_admin_url"))
            name = f"docchat_test_{uuid.uuid4().hex[:12]}"
            url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            stack.callback(_drop_database, admin_url, name)
        settings = Settings(
            data_dir=root / "data", database_url=url, auth=AuthSettings(mode="accounts")
        )
        corpora.copy_into(settings, [])  # a copy of a migrated database: faster than migrating
        app = create_app(settings, workspace=partial(Workspace, embedder=embedder))
        client = stack.enter_context(live_server(app))
        yield _populate(client, app.state.workspace)


def two_users(client: httpx.Client, workspace: Workspace) -> tuple[str, str]:
    """API tokens of alice (the first admin, made as the CLI makes her) and bob, whom she adds."""
    accounts = workspace.accounts
    alice = accounts.create_user("alice", PASSWORD, admin=True)
    a_token = accounts.create_token(alice.id, "tests").token
    made = client.post(
        "/api/users", json={"username": "bob", "password": PASSWORD}, headers=bearer(a_token)
    )
    assert made.status_code == 201, made.text
    return a_token, accounts.create_token(made.json()["id"], "tests").token


def _populate(client: httpx.Client, workspace: Workspace) -> World:
    """A and B, their tokens, and their data, made over HTTP where the API can make it."""
    a_token, b_token = two_users(client, workspace)
    a, b = bearer(a_token), bearer(b_token)

    a_session = client.post("/api/sessions", json={"title": "A's plans"}, headers=a).json()["id"]
    for role, content in [("user", f"Remember {MARKER}."), ("assistant", "Noted.")]:
        appended = client.post(
            f"/api/sessions/{a_session}/messages",
            json={"role": role, "content": content},
            headers=a,
        )
        assert appended.status_code == 201, appended.text
    a_task = ingest(
        client,
        [("plans.pdf", pdf_bytes([[A_TEXT]])), ("plans.md", f"# Gates\n\n{A_TEXT}\n".encode())],
        collection="a-private",
        headers=a,
    )
    listed = client.get("/api/documents", headers=a).json()["items"]
    a_docs = {d["file_name"]: d["id"] for d in listed}
    token = client.post("/api/tokens", json={"name": "second"}, headers=a)
    assert token.status_code == 201, token.text

    b_session = client.post("/api/sessions", json={"title": "B's"}, headers=b).json()["id"]
    garden = f"# Garden\n\n{B_TEXT}\n".encode()
    ingest(client, [("garden.md", garden)], collection="b-garden", headers=b)
    (b_doc,) = client.get("/api/documents", headers=b).json()["items"]
    return World(
        client=client,
        a=a,
        b=b,
        a_token=a_token,
        b_token=b_token,
        a_username="alice",
        a_session=a_session,
        a_documents=(a_docs["plans.pdf"], a_docs["plans.md"]),
        a_task=a_task["id"],
        a_token_id=token.json()["info"]["id"],
        b_session=b_session,
        b_document=b_doc["id"],
    )


# -- requests built from the OpenAPI schema ----------------------------------------------------


def example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """The smallest value ``schema`` accepts: required properties only, the first enum value,
    the shortest string, the minimum number."""
    if "$ref" in schema:
        return example(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            first = next(s for s in schema[key] if s.get("type") != "null")
            return example(first, components)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example(properties[name], components) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), components)] * schema.get("minItems", 0)
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return None


@dataclass(frozen=True)
class Operation:
    """One operation of the schema that takes a path parameter."""

    method: str
    path: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def path_names(self) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == "path"]

    def call(
        self,
        client: httpx.Client,
        values: dict[str, str],
        headers: dict[str, str],
        components: dict[str, Any],
    ) -> httpx.Response:
        """Send it with ``values`` for its path parameters and the least else it requires."""
        missing = set(self.path_names()) - set(values)
        assert not missing, f"{self.name}: the isolation test has no value to send for {missing}"
        url = self.path.format(**{name: values[name] for name in self.path_names()})
        query = {
            p["name"]: QUERY_VALUES.get(p["name"], example(p.get("schema", {}), components))
            for p in self.spec.get("parameters", [])
            if p["in"] == "query" and p.get("required")
        }
        body = self.spec.get("requestBody", {}).get("content", {}).get("application/json")
        payload = None if body is None else example(body["schema"], components)
        return client.request(self.method, url, params=query, json=payload, headers=headers)


def operations_with_path_parameters(schema: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method, path, spec)
        for path, item in schema["paths"].items()
        for method, spec in item.items()
        if method in HTTP_METHODS and any(p["in"] == "path" for p in spec.get("parameters", []))
    ]


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


# -- every route with an id ----------------------------------------------------------------------


def test_every_route_with_an_id_answers_b_as_if_a_s_ids_did_not_exist(
    world: World, expect_error: ExpectError
) -> None:
    client = world.client
    schema = client.get("/openapi.json", headers=world.b).json()
    components = schema.get("components", {}).get("schemas", {})
    a_values = {
        "session_id": world.a_session,
        "document_id": world.a_documents[0],  # the PDF: its pages have images and highlights
        "task_id": world.a_task,
        "token_id": world.a_token_id,
        "username": world.a_username,
        "name": "a-private",  # a collection: named within its owner, B has none of this name
        "page": "1",
    }
    # Ids of the same shape that name nothing; a page is a page, not an id.
    unknown = {name: str(uuid.uuid4()) for name in a_values} | {
        "username": f"nobody-{uuid.uuid4().hex[:8]}",
        "name": f"nobody-{uuid.uuid4().hex[:8]}",
        "page": "1",
    }
    operations = operations_with_path_parameters(schema)
    leaks: list[str] = []
    tried = 0
    for op in operations:
        status = 403 if op.path.startswith(ADMIN_ONLY) else 404
        if op.method == "get" and status == 404:
            # A reaches every one of these ids, so B's 404 below is not for a wrong id.
            own = op.call(client, a_values, world.a, components)
            assert own.status_code == 200, f"{op.name} as A: {own.status_code} {own.text}"
        nothing = op.call(client, unknown, world.b, components)
        expected = expect_error(nothing, status)
        if status == 404:
            assert expected["code"].endswith("not_found"), (op.name, expected)
        for name in op.path_names():
            expected["message"] = expected["message"].replace(unknown[name], a_values[name])
        theirs = op.call(client, a_values, world.b, components)
        tried += 1
        if theirs.status_code != status or _error(theirs) != expected:
            leaks.append(f"{op.name}: {theirs.status_code} {theirs.text[:300]}")
    print(f"isolation: user B tried {tried} operations with path parameters")
    assert not leaks, "B was answered differently for A's ids:\n" + "\n".join(leaks)
    assert tried == len(operations) >= KNOWN_OPERATIONS
    _a_still_holds_everything(world)


def _a_still_holds_everything(world: World) -> None:
    """B's deletes, clears, cancels, edits and revokes changed nothing of A's."""
    client, a = world.client, world.a
    session = client.get(f"/api/sessions/{world.a_session}", headers=a).json()
    assert (session["title"], session["message_count"]) == ("A's plans", 2)
    for document in world.a_documents:
        assert client.get(f"/api/documents/{document}", headers=a).status_code == 200
    assert client.get(f"/api/tasks/{world.a_task}", headers=a).json()["status"] == "succeeded"
    tokens = client.get("/api/tokens", headers=a).json()["items"]
    assert [t["revoked"] for t in tokens if t["id"] == world.a_token_id] == [False]


# -- listings ------------------------------------------------------------------------------------


def _field(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda item: str(item[name])


@pytest.mark.parametrize(
    ("path", "key", "a_rows"),
    [
        ("/api/sessions", _field("id"), lambda w: {w.a_session}),
        ("/api/documents", _field("id"), lambda w: set(w.a_documents)),
        ("/api/collections", _field("name"), lambda _: {"a-private"}),
        ("/api/tasks", _field("id"), lambda w: {w.a_task}),
        ("/api/tokens", _field("id"), lambda w: {w.a_token_id}),
        (
            f"/api/search/messages?q={MARKER}",
            lambda item: item["message"]["session_id"],
            lambda w: {w.a_session},
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_listings_show_b_none_of_a_s_rows(
    world: World,
    path: str,
    key: Callable[[dict[str, Any]], str],
    a_rows: Callable[[World], set[str]],
) -> None:
    mine = a_rows(world)

    def listed(headers: dict[str, str]) -> tuple[set[str], str]:
        response = world.client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return {key(item) for item in response.json()["items"]}, response.text

    assert mine <= listed(world.a)[0]  # A sees them: the check below can fail
    b_rows, b_text = listed(world.b)
    assert not b_rows & mine
    # B's own failed tasks name the ids B sent (the route test's streamed turns in A's session
    # fail as tasks of B's, "chat session '…' does not exist"): B's words, not A's rows.
    holds_nothing_of_a(world, b_text, ids=path != "/api/tasks")


def test_the_user_list_is_for_admins_only(world: World, expect_error: ExpectError) -> None:
    expect_error(world.client.get("/api/users", headers=world.b), 403, "forbidden")
    users = world.client.get("/api/users", headers=world.a).json()["items"]
    assert {u["user"]["username"] for u in users} >= {"alice", "bob"}


# -- the marker, asked through every face --------------------------------------------------------


def holds_nothing_of_a(world: World, answered: str, *, ids: bool = True) -> None:
    """Nothing of A's in a response to B: not the words of A's document, not A's ids.  B's own
    question holds the marker, and an answer that found nothing says what it searched for."""
    answered = answered.replace(QUESTION, "")
    assert SECRET not in answered
    assert MARKER not in answered
    for a_id in world.a_ids if ids else ():
        assert a_id not in answered, answered


def holds_a_s_passage(world: World, answered: str) -> None:
    """A's document, quoted and named, in a response to A."""
    assert SECRET in answered
    assert any(document in answered for document in world.a_documents)


@pytest.mark.parametrize("mode", ["hybrid", "fulltext", "dense"])
def test_search_finds_the_marker_for_a_only(world: World, mode: str) -> None:
    body = {"query": QUESTION, "mode": mode}
    holds_a_s_passage(world, world.client.post("/api/search", json=body, headers=world.a).text)
    answered = world.client.post("/api/search", json=body, headers=world.b)
    assert answered.status_code == 200, answered.text
    holds_nothing_of_a(world, answered.text)


@pytest.mark.parametrize(
    ("kind", "a_s", "nothing"),
    [
        ("documents", lambda w: list(w.a_documents), [str(uuid.uuid4())]),
        ("collections", lambda _: ["a-private"], ["no-such-collection"]),
        ("file_globs", lambda _: ["plans.*"], ["no-such-file.*"]),
    ],
)
def test_a_filter_naming_a_s_sources_finds_what_a_name_of_nothing_finds(
    world: World, kind: str, a_s: Callable[[World], list[str]], nothing: list[str]
) -> None:
    def search(names: list[str]) -> httpx.Response:
        body = {"query": QUESTION, "source_filters": {kind: names}}
        return world.client.post("/api/search", json=body, headers=world.b)

    theirs, unknown = search(a_s(world)), search(nothing)
    assert (theirs.status_code, theirs.json()) == (unknown.status_code, unknown.json())
    holds_nothing_of_a(world, theirs.text)
    found = world.client.post(
        "/api/search",
        json={"query": QUESTION, "source_filters": {kind: a_s(world)}},
        headers=world.a,
    )
    holds_a_s_passage(world, found.text)  # the filter itself finds A's passage for A


@pytest.mark.parametrize("route", ["chat", "chat/stream"])
def test_chat_answers_b_without_a_s_documents(world: World, route: str) -> None:
    asked = {"question": QUESTION, "mode": "basic"}
    a_session = world.client.post("/api/sessions", json={}, headers=world.a).json()["id"]
    found = world.client.post(f"/api/sessions/{a_session}/{route}", json=asked, headers=world.a)
    assert found.status_code == 200, found.text
    holds_a_s_passage(world, found.text)
    answered = world.client.post(
        f"/api/sessions/{world.b_session}/{route}", json=asked, headers=world.b
    )
    assert answered.status_code == 200, answered.text
    holds_nothing_of_a(world, answered.text)


@contextmanager
def sdk_of(world: World, token: str) -> Iterator[openai.OpenAI]:
    """The official client with ``token`` as its API key, closed afterwards."""
    with openai.OpenAI(base_url=f"{world.client.base_url}/v1", api_key=token, max_retries=0) as sdk:
        yield sdk


def completion_text(world: World, token: str, *, stream: bool, **extra: Any) -> str:
    """The raw response to a chat completion about the marker: the JSON, or the whole stream."""
    with sdk_of(world, token) as sdk:
        model = next(m.id for m in sdk.models.list() if m.id.endswith("basic"))
        messages: Any = [{"role": "user", "content": QUESTION}]
        raw = sdk.chat.completions.with_raw_response.create(
            model=model, messages=messages, stream=stream, **extra
        )
        raw.http_response.read()  # a stream's events, all of them
        return raw.http_response.text


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_the_openai_endpoint_answers_b_without_a_s_documents(world: World, stream: bool) -> None:
    holds_a_s_passage(world, completion_text(world, world.a_token, stream=stream))
    holds_nothing_of_a(world, completion_text(world, world.b_token, stream=stream))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_the_openai_endpoint_does_not_continue_a_s_session_for_b(
    world: World, stream: bool
) -> None:
    unknown = str(uuid.uuid4())
    refused = []
    for session_id in (world.a_session, unknown):
        with pytest.raises(openai.NotFoundError) as raised:
            completion_text(
                world, world.b_token, stream=stream, extra_body={"session_id": session_id}
            )
        refused.append(raised.value.body)
    theirs, nothing = refused
    assert json.dumps(theirs) == json.dumps(nothing).replace(unknown, world.a_session)


async def _mcp_calls(
    world: World, token: str, calls: list[tuple[str, dict[str, Any]]]
) -> list[Any]:
    """Each tool call's result, made with ``token`` at /mcp."""
    url = str(world.client.base_url.join("/mcp"))
    results = []
    # The SDK's own HTTP client (httpx2), carrying B's or A's token as MCP clients send it.
    async with httpx2.AsyncClient(
        headers=bearer(token), timeout=httpx2.Timeout(30, read=120)
    ) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, read_timeout_seconds=120) as mcp:
            for name, arguments in calls:
                results.append(await mcp.call_tool(name, arguments))
    return results


def mcp_calls(world: World, token: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    results: list[Any] = []

    async def main() -> None:
        results.extend(await _mcp_calls(world, token, calls))

    run_async(main)
    return results


ASKED_OVER_MCP = [
    ("search_passages", {"query": QUESTION}),
    ("ask", {"question": QUESTION, "mode": "basic"}),
    ("list_documents", {}),
]


def test_mcp_answers_b_without_a_s_documents(world: World) -> None:
    for result in mcp_calls(world, world.a_token, ASKED_OVER_MCP[:2]):
        holds_a_s_passage(world, json.dumps(structured(result)))
    for result in mcp_calls(world, world.b_token, ASKED_OVER_MCP):
        holds_nothing_of_a(world, json.dumps(structured(result)))


def test_mcp_answers_b_as_if_a_s_ids_did_not_exist(world: World) -> None:
    unknown = str(uuid.uuid4())

    def calls(document_id: str, session_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            ("get_passage", {"document_id": document_id, "start": 0, "end": 10}),
            ("ask", {"question": QUESTION, "session_id": session_id}),
        ]

    theirs = mcp_calls(world, world.b_token, calls(world.a_documents[0], world.a_session))
    nothing = mcp_calls(world, world.b_token, calls(unknown, unknown))
    for mine, missing, a_id in zip(
        theirs, nothing, (world.a_documents[0], world.a_session), strict=True
    ):
        expected = error_text(missing)
        assert "not_found" in expected
        assert error_text(mine) == expected.replace(unknown, a_id)


# -- the same file uploaded by both --------------------------------------------------------------


def test_b_uploading_a_s_file_learns_nothing_and_takes_nothing(
    api_settings: Settings, make_app: MakeApp, start_server: StartServer
) -> None:
    """Documents share stored content by its sha256: B uploading the very bytes A holds must
    get what a first upload gets (no sign that someone has them), and either deleting theirs
    leaves the other's intact.  Its own server: B ends up holding A's words.

    Times are left out, and they still differ: known content is neither parsed nor embedded
    again, so B's upload is quicker and its document is ``indexed`` as it is made.  Closing that
    needs content stored per owner."""
    settings = api_settings.model_copy(update={"auth": AuthSettings(mode="accounts")})
    app = make_app(settings)
    client = start_server(settings, app)
    a_token, b_token = two_users(client, app.state.workspace)
    a, b = bearer(a_token), bearer(b_token)
    plans = [("plans.md", f"# Gates\n\n{A_TEXT}\n".encode())]

    def upload(headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        task = ingest(client, plans, headers=headers)
        (document_id,) = task["result"]["documents"]
        document = client.get(f"/api/documents/{document_id}", headers=headers).json()
        return task, document

    def seen(task: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
        """What an upload tells its sender, less the ids and times that differ anyway."""
        fresh = {"id", "created_at", "updated_at", "finished_at", "indexed_at", "collection_id"}
        return {
            "task": {k: v for k, v in task.items() if k not in fresh}
            | {"result": {k: v for k, v in task["result"].items() if k != "documents"}},
            "document": {k: v for k, v in document.items() if k not in fresh},
        }

    a_task, a_document = upload(a)
    b_task, b_document = upload(b)
    assert b_document["id"] != a_document["id"]
    # Both went to "default": each to their own collection of that name.
    for headers in (a, b):
        collections = client.get("/api/collections", headers=headers).json()["items"]
        assert [(c["name"], c["documents"]) for c in collections] == [("default", 1)]
    assert seen(b_task, b_document) == seen(a_task, a_document)

    def finds(headers: dict[str, str]) -> bool:
        hits = client.post("/api/search", json={"query": QUESTION}, headers=headers).json()
        return SECRET in json.dumps(hits)

    deleted = client.delete(f"/api/documents/{b_document['id']}", headers=b)
    assert deleted.status_code == 204, deleted.text
    assert finds(a) and not finds(b)
    assert client.get(f"/api/documents/{a_document['id']}/file", headers=a).text.count(SECRET)
