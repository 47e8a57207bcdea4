"""What a server shows after a folder holding a link out of it was ingested: nothing of the
link's target, through the document list, the documents' files or search."""

from __future__ import annotations

import os
from pathlib import Path

from docchat.config import Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

from .conftest import StartServer

SECRET_WORD = "wombatlantern"


def test_a_link_out_of_an_ingested_folder_is_never_served(
    tmp_path: Path,
    api_settings: Settings,
    embedder: MiniLMEmbedder,
    start_server: StartServer,
) -> None:
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text(f"root:x:0:0:{SECRET_WORD}:/root:/bin/bash\n")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.md").write_text("# Notes\n\nThe kettle in room 4 is broken.\n")
    os.symlink(outside / "passwd", folder / "passwd.txt")
    workspace = Workspace(api_settings, embedder=embedder)
    try:
        result = workspace.ingest([folder])
    finally:
        workspace.close()
    assert [Path(s.name).name for s in result.skipped] == ["passwd.txt"]

    client = start_server(api_settings)
    documents = client.get("/api/documents").json()["items"]
    assert [d["file_name"] for d in documents] == ["notes.md"]
    for document in documents:
        served = client.get(f"/api/documents/{document['id']}/file")
        assert served.status_code == 200
        assert SECRET_WORD not in served.text
    for mode in ("fulltext", "hybrid"):
        found = client.post("/api/search", json={"query": SECRET_WORD, "mode": mode})
        assert found.status_code == 200, found.text
        assert SECRET_WORD not in found.text
