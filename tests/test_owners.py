"""Owner scoping: one rule for sessions, documents, collections and tasks, on both backends.

A user id sees its own rows; None (single-user mode) sees every row.  Writes record their caller:
an owner-less ingest goes into the owner-less collection, never into a user's of the same name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, select

from docchat.documents.models import CollectionRow, DocumentRow
from docchat.errors import DocumentNotFound, SessionNotFound, TaskNotFound
from docchat.owners import owned_by, scope, visible_to
from docchat.sessions.models import SessionRow
from docchat.workspace import Workspace
from tests.named_jobs import value_job
from tests.workspace_parts import parts

OWNERS = ("alice", "bob", None)


@pytest.mark.parametrize(
    ("row_owner", "owner", "visible"),
    [
        ("alice", "alice", True),
        ("alice", "bob", False),
        (None, "alice", False),
        ("alice", None, True),
        (None, None, True),
    ],
)
def test_visible_to(row_owner: str | None, owner: str | None, visible: bool) -> None:
    assert visible_to(row_owner, owner) is visible


def test_scope_and_owned_by_in_sql(workspace: Workspace) -> None:
    ids = {owner: workspace.sessions.create(owner=owner).id for owner in OWNERS}

    def found(clause: ColumnElement[bool]) -> set[str]:
        with parts(workspace).db.read() as s:
            return set(s.execute(select(SessionRow.id).where(clause)).scalars())

    assert found(scope(SessionRow.owner, None)) == set(ids.values())
    assert found(scope(SessionRow.owner, "alice")) == {ids["alice"]}
    assert found(scope(SessionRow.owner, "carol")) == set()
    assert found(owned_by(SessionRow.owner, None)) == {ids[None]}
    assert found(owned_by(SessionRow.owner, "bob")) == {ids["bob"]}
    # Python and SQL agree, row by row.
    for owner in (*OWNERS, "carol"):
        expected = {i for row_owner, i in ids.items() if visible_to(row_owner, owner)}
        assert found(scope(SessionRow.owner, owner)) == expected


def test_sessions_follow_the_rule(workspace: Workspace) -> None:
    store = workspace.sessions
    ids = {owner: store.create(owner=owner).id for owner in OWNERS}
    assert {s.id for s in store.list(owner=None).items} == set(ids.values())
    assert [s.id for s in store.list(owner="alice").items] == [ids["alice"]]
    assert store.get(ids["alice"], owner=None).id == ids["alice"]
    with pytest.raises(SessionNotFound):
        store.get(ids["alice"], owner="bob")
    with pytest.raises(SessionNotFound):
        store.get(ids[None], owner="alice")  # an owner-less row is not everyone's


def test_documents_tasks_and_collections_follow_the_rule(
    workspace: Workspace, tmp_path: Path
) -> None:
    docs = {}
    for owner in OWNERS:
        path = tmp_path / str(owner) / "contract.md"
        path.parent.mkdir()
        path.write_text(f"# Contract of {owner}\n\nThe notice period is three months.\n")
        result = workspace.ingest([path], collection="legal", owner=owner, embed=False)
        (docs[owner],) = result.document_ids

    assert {d.id for d in workspace.documents(owner=None)} == set(docs.values())
    assert [d.id for d in workspace.documents(owner="alice")] == [docs["alice"]]
    assert workspace.document(docs["bob"], owner=None).id == docs["bob"]
    with pytest.raises(DocumentNotFound):
        workspace.document(docs["bob"], owner="alice")
    with pytest.raises(DocumentNotFound):
        workspace.delete_document(docs[None], owner="alice")
    hits = workspace.search("notice period", owner="alice", mode="fulltext")
    assert {h.document_id for h in hits} == {docs["alice"]}
    hits = workspace.search("notice period", owner=None, mode="fulltext")
    assert {h.document_id for h in hits} == set(docs.values())

    # Three collections called "legal": each document went into its own owner's.
    with parts(workspace).db.read() as s:
        rows = s.execute(
            select(DocumentRow.owner, CollectionRow.owner).join(
                CollectionRow, CollectionRow.id == DocumentRow.collection_id
            )
        ).all()
    assert sorted(rows, key=str) == sorted(((o, o) for o in OWNERS), key=str)
    assert [(c.name, c.documents) for c in workspace.collections(owner=None)] == [("legal", 1)] * 3
    (mine,) = workspace.collections(owner="alice")
    assert (mine.name, mine.documents) == ("legal", 1)
    assert workspace.collections(owner="carol") == []
    # The owner-less collection is the one an owner-less write finds again.
    registry = parts(workspace).registry
    assert registry.collection_id("legal", owner=None, create=False) not in {
        registry.collection_id("legal", owner=o, create=False) for o in ("alice", "bob")
    }

    tasks = {
        owner: parts(workspace).runner.submit("t", value_job(1), owner=owner) for owner in OWNERS
    }
    for task in tasks.values():
        workspace.wait_for_task(task.id)
    assert {t.id for t in workspace.tasks(owner=None)} == {t.id for t in tasks.values()}
    assert [t.id for t in workspace.tasks(owner="bob")] == [tasks["bob"].id]
    assert workspace.task(tasks["bob"].id, owner=None).id == tasks["bob"].id
    with pytest.raises(TaskNotFound):
        workspace.task(tasks[None].id, owner="bob")
    with pytest.raises(TaskNotFound):
        workspace.cancel_task(tasks["alice"].id, owner="bob")
