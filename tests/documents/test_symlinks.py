"""Symbolic links in an ingested folder: followed inside it, skipped and reported when they lead
out (``ln -s /etc/passwd docs/passwd.txt``), followed out only when asked.

Real links on disk, ingested through the library; tests/test_cli_documents.py does the same
through ``docchat ingest`` and tests/api/test_symlinks_api.py checks what a server then shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from docchat.documents.ingest import scan
from docchat.workspace import Workspace

#: A word only the files outside the folder hold.
SECRET_WORD = "quokkaplenty"
#: Two links that point at each other.
LOOP = {"loop.md", "hop.md"}


@dataclass(frozen=True)
class Tree:
    """A folder to ingest, with links in and out, and the outside it must not leak."""

    folder: Path
    outside: Path


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    outside = tmp_path / "outside"
    (outside / "private").mkdir(parents=True)
    (outside / "passwd").write_text(f"root:x:0:0:{SECRET_WORD}:/root:/bin/bash\n")
    (outside / "private" / "diary.md").write_text(f"# Diary\n\nThe {SECRET_WORD} plan.\n")
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.md").write_text("# Notes\n\nThe kettle in room 4 is broken.\n")
    (folder / "sub" / "guide.md").write_text("# Guide\n\nBadges open the north door.\n")
    os.symlink(outside / "passwd", folder / "passwd.txt")  # out: a file
    os.symlink(outside / "private", folder / "private")  # out: a folder
    os.symlink(folder / "notes.md", folder / "alias.md")  # in: a file
    os.symlink(folder / "sub", folder / "sub-again")  # in: a folder, walked as sub
    os.symlink(folder, folder / "sub" / "up")  # in: back up, must not loop
    os.symlink(folder / "hop.md", folder / "loop.md")  # a loop of links
    os.symlink(folder / "loop.md", folder / "hop.md")
    return Tree(folder, outside)


def test_links_out_of_the_folder_are_skipped_and_reported(workspace: Workspace, tree: Tree) -> None:
    result = workspace.ingest([tree.folder])
    skipped = {Path(s.name).name: s.reason for s in result.skipped}
    assert set(skipped) == {"passwd.txt", "private"} | LOOP
    assert "symbolic link to a file outside 'docs'" in skipped["passwd.txt"]
    assert "symbolic link to a folder outside 'docs'" in skipped["private"]
    assert "--follow-symlinks" in skipped["passwd.txt"]
    assert str(tree.outside) not in " ".join(skipped.values())  # the target is not echoed
    assert result.failures == []
    assert {d.file_name for d in workspace.documents()} == {"notes.md", "guide.md", "alias.md"}
    for mode in ("fulltext", "hybrid"):
        hits = workspace.search(SECRET_WORD, mode=mode)
        assert all(SECRET_WORD not in hit.text for hit in hits)
    stored = [p for p in (workspace.settings.data_dir / "files").rglob("*") if p.is_file()]
    assert all(SECRET_WORD.encode() not in p.read_bytes() for p in stored)


def test_follow_symlinks_ingests_what_links_out_point_at(workspace: Workspace, tree: Tree) -> None:
    result = workspace.ingest([tree.folder], follow_symlinks=True)
    assert result.skipped == []
    names = {d.file_name for d in workspace.documents()}
    assert names == {"notes.md", "guide.md", "alias.md", "passwd.txt", "diary.md"} | LOOP
    assert {f.name for f in result.failures} == LOOP  # followed, a loop cannot be read
    hits = workspace.search(SECRET_WORD, mode="fulltext")
    assert {hit.file_name for hit in hits} == {"passwd.txt", "diary.md"}


def test_a_link_ingested_before_is_pruned(workspace: Workspace, tree: Tree) -> None:
    workspace.ingest([tree.folder], follow_symlinks=True)
    again = workspace.ingest([tree.folder], prune=True)
    assert again.removed == 4  # passwd.txt, private/diary.md and the loop's failed documents
    assert {d.file_name for d in workspace.documents()} == {"notes.md", "guide.md", "alias.md"}
    assert workspace.search(SECRET_WORD, mode="fulltext") == []


def test_a_link_named_explicitly_is_taken(tree: Tree) -> None:
    # A path given by its user is what they asked for, link or not; only a folder's walk decides.
    found = scan([tree.folder / "passwd.txt", tree.folder / "private"])
    assert found.files == [tree.outside / "passwd", tree.outside / "private" / "diary.md"]
    assert found.folders == [tree.outside / "private"]
    assert found.skipped == []
