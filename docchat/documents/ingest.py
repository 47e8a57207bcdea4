"""Ingestion: files and folders in, parsed, chunked and full-text indexed, incrementally.

Unchanged files (same source, same sha256) are skipped; changed ones are re-indexed in place; with
``prune`` documents whose file left a scanned folder are removed.  A file that fails is recorded as
failed with its reason and the batch goes on.  Vectors are computed afterwards, by
``docchat.retrieval.vectors``: a document is searchable by full text as soon as it is ingested
(``docchat.tasks.jobs`` runs the two steps for every face).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docchat.config import Settings
from docchat.documents.chunking import chunk
from docchat.documents.identity import DocumentIdentity
from docchat.documents.parsers import SUPPORTED_SUFFIXES, parse
from docchat.documents.registry import (
    DEFAULT_COLLECTION,
    DocumentInfo,
    Registry,
    Reindexed,
    ReplacedDocument,
)
from docchat.documents.storage import hash_file
from docchat.documents.types import Chunk, ParsedDocument
from docchat.errors import Conflict, DocchatError, InvalidInput, TooLarge
from docchat.validation import name_problem, normalise_name

log = logging.getLogger(__name__)

UPLOAD_PREFIX = "upload:"
#: Longest upload name: ``documents.file_name`` holds 500 characters (``source``, with the prefix,
#: 2000).
MAX_NAME_CHARS = 500
_DRIVE = re.compile(r"[A-Za-z]:")


@dataclass(frozen=True, slots=True)
class FileFailure:
    """A file that could not be ingested, and why (a message for the user)."""

    name: str
    reason: str


@dataclass(slots=True)
class IngestProgress:
    """Running totals, handed to the progress callback after every file."""

    files_total: int = 0
    files_done: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    pages: int = 0
    chunks: int = 0
    bytes: int = 0
    current: str | None = None
    failures: list[FileFailure] = field(default_factory=list)
    #: Symbolic links in a folder that lead out of it, left out (``scan``).
    skipped: list[FileFailure] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    document_ids: list[str] = field(default_factory=list)
    #: The content (sha256) of each document read, failed ones aside: the passages this run owns.
    contents: set[str] = field(default_factory=set)
    #: Documents whose earlier version an upload of the same name replaced (their ids stay).
    replaced: list[str] = field(default_factory=list)
    #: Chunks embedded after the files were ingested (``docchat.tasks.jobs``), counting the
    #: vectors of known content that only other owners held (``Registry.vectors_lent``):
    #: a result must read the same whether or not someone else has the same bytes.
    embedded: int = 0

    @property
    def seconds(self) -> float:
        """Seconds since ingestion started."""
        return time.perf_counter() - self.started


ProgressCallback = Callable[[IngestProgress], None]
"""Called before and after each file (``current`` names it), then once with ``current`` None."""


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file received for ingestion: where it was spooled, the name it is shown under (what its
    client sent, ``display_name``) and its size.

    ``refused`` is why it was refused from its name and first bytes as it arrived (an unsupported
    type); then nothing of it was written and ingestion records it as failed with that reason.
    """

    path: Path
    file_name: str
    size: int
    refused: str | None = None


def discard(files: Iterable[UploadedFile]) -> None:
    """Delete received files (those already gone are skipped)."""
    for upload in files:
        upload.path.unlink(missing_ok=True)


def display_name(raw: str, *, field: str = "file_name") -> str:
    """The name an upload is shown and keyed by: the relative path its client sent, made safe.

    Browsers send a folder upload's files as ``folder/sub/file.txt``; the path is kept so that two
    files of one name in different folders stay two documents.  Never a path on disk: backslashes
    become ``/``; drive letters, leading slashes, empty, ``.`` and ``..`` parts go.  The name
    follows the rule collection names do (``validation.check_name``): NFC, spaces as spaces, and
    InvalidInput naming ``field`` and the characters when it holds invisible or control ones;
    stripping them silently made ``pol\\u200bicy.md`` replace ``policy.md``.  Applying it twice
    changes nothing.
    """
    normal = normalise_name(str(raw))
    problem = name_problem(normal)
    if problem is not None:
        shown = normal if len(normal) <= 80 else normal[:77] + "..."
        raise InvalidInput(f"file name {shown!r} {problem}", field=field)
    parts: list[str] = []
    for piece in normal.replace("\\", "/").split("/"):
        part = piece.strip()
        drive = not parts and _DRIVE.fullmatch(part)
        if part not in ("", ".", "..") and not drive:
            parts.append(part)
    name = "/".join(parts) or "upload"
    if len(name) <= MAX_NAME_CHARS:
        return name
    # Cut so that long names sharing a prefix stay apart: a hash of the whole name goes before the
    # file's suffix (kept, as parsers read it); the same long name always gets the same cut.
    stem, dot, suffix = parts[-1].rpartition(".")
    suffix = dot + suffix if stem and dot and len(suffix) <= 10 else ""
    tag = "~" + hashlib.sha256(name.encode()).hexdigest()[:16] + suffix
    head = name[: MAX_NAME_CHARS - len(tag)]
    # A joiner left at the cut would join nothing, which the rule refuses: cut before it.
    while head and name_problem(head[-1:] + tag[0]) is not None:
        head = head[:-1]
    return head + tag


@dataclass(frozen=True, slots=True)
class Scanned:
    """What ``scan`` found: files to ingest, the folders walked (for pruning), paths that do not
    exist, and symbolic links left out."""

    files: list[Path]
    folders: list[Path]
    missing: list[FileFailure]
    skipped: list[FileFailure]


def scan(paths: Iterable[str | Path], *, follow_symlinks: bool = False) -> Scanned:
    """Find the files to ingest in ``paths``.

    Inside folders only supported file types are taken and hidden entries are skipped; a file named
    explicitly is always taken (so an unsupported one is reported, not silently ignored).  Inside
    a folder a symbolic link, to a file or to a folder, is followed only when its target lies in
    that folder: ``ln -s /etc/passwd docs/passwd.txt`` would otherwise index, and let every face
    serve, a file from outside what was given.  Links out are listed in ``skipped``, or, with
    ``follow_symlinks``, followed.
    """
    files: list[Path] = []
    folders: list[Path] = []
    missing: list[FileFailure] = []
    skipped: list[FileFailure] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            folder = path.resolve()
            folders.append(folder)
            files.extend(_walk(folder, follow_symlinks=follow_symlinks, skipped=skipped))
        elif path.is_file():
            files.append(path.resolve())
        else:
            missing.append(FileFailure(str(raw), "no such file or folder"))
    return Scanned(list(dict.fromkeys(files)), folders, missing, skipped)


def _walk(folder: Path, *, follow_symlinks: bool, skipped: list[FileFailure]) -> Iterator[Path]:
    """Supported, visible files under ``folder`` (resolved), symbolic links as ``scan`` says.

    ``os.walk`` never descends into a link to a folder (it lists it among the folders): one
    pointing inside is dropped, as its files are walked under their own path; one pointing out is
    walked only with ``follow_symlinks``, each real folder once (a link back up cannot loop).
    """
    seen = {folder}
    pending = [folder]
    while pending:
        for root, dirs, names in os.walk(pending.pop(0)):
            walked = []
            for name in sorted(d for d in dirs if not d.startswith(".")):
                path = Path(root) / name
                if not path.is_symlink():
                    walked.append(name)
                    continue
                target = _target(path)
                if target is not None and target.is_relative_to(folder):
                    continue
                if not follow_symlinks or target is None:
                    skipped.append(_outside(path, folder, "folder", target))
                elif target not in seen:
                    seen.add(target)
                    pending.append(path)
            dirs[:] = walked
            for name in sorted(names):
                path = Path(root) / name
                if name.startswith(".") or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                if path.is_symlink() and not follow_symlinks:
                    target = _target(path)
                    if target is None or not target.is_relative_to(folder):
                        skipped.append(_outside(path, folder, "file", target))
                        continue
                yield path


def _target(link: Path) -> Path | None:
    """Where a symbolic link leads in the end, or None for a loop."""
    try:
        return link.resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python 3.11's "Symlink loop"
        return None


def _outside(link: Path, folder: Path, kind: str, target: Path | None) -> FileFailure:
    """Why the link is skipped, naming it but not where it leads (the reason may be shown)."""
    if target is None:
        return FileFailure(str(link), "symbolic link that loops; skipped")
    return FileFailure(
        str(link),
        f"symbolic link to a {kind} outside {folder.name!r}; skipped "
        "(--follow-symlinks, or follow_symlinks=True, ingests it)",
    )


class Ingestor:
    """Turns files into indexed documents of the registry's database."""

    def __init__(self, registry: Registry, settings: Settings) -> None:
        self.settings = settings
        self.limits = settings.documents
        self.registry = registry
        self.files = registry.files

    def ingest_paths(
        self,
        paths: Iterable[str | Path],
        *,
        collection: str = DEFAULT_COLLECTION,
        owner: str | None = None,
        prune: bool = False,
        follow_symlinks: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestProgress:
        """Ingest files and folders into ``collection``; returns the totals.  Symbolic links
        out of a folder are skipped (``state.skipped``) unless ``follow_symlinks``."""
        collection_id = self.registry.collection_id(collection, owner=owner)
        assert collection_id is not None
        found = scan(paths, follow_symlinks=follow_symlinks)
        files, folders = found.files, found.folders
        state = IngestProgress(
            files_total=len(files), failures=list(found.missing), skipped=list(found.skipped)
        )
        for path in files:
            state.current = str(path)
            if progress:
                progress(state)
            self._ingest_one(
                path,
                DocumentIdentity(
                    collection_id=collection_id, owner=owner, source=str(path), file_name=path.name
                ),
                state,
            )
            state.files_done += 1
            if progress:
                progress(state)
        if prune and folders:
            seen = {str(p) for p in files}
            gone = [
                src
                for src in self.registry.sources(collection_id)
                if not src.startswith(UPLOAD_PREFIX)
                and src not in seen
                and any(Path(src).is_relative_to(folder) for folder in folders)
            ]
            state.removed = self.registry.delete_sources(collection_id, gone)
        state.current = None
        if progress:
            progress(state)
        return state

    def ingest_uploads(
        self,
        files: Sequence[UploadedFile],
        *,
        collection: str = DEFAULT_COLLECTION,
        owner: str | None = None,
        progress: ProgressCallback | None = None,
        keep_files: bool = False,
    ) -> IngestProgress:
        """Ingest received files into ``collection``; returns the totals.

        Each file is deleted once read (the content store keeps its own copy), and all of them when
        this returns or raises; with ``keep_files`` they stay (a queued job's, deleted when the job
        is over: a retry after its worker died reads them again and finds what was stored
        unchanged).  A name sent twice in one batch is a failure on the second, which would
        otherwise replace the first; across batches the same name replaces, as re-uploading
        should.
        """
        try:
            collection_id = self.registry.collection_id(collection, owner=owner)
            assert collection_id is not None
            state = IngestProgress(files_total=len(files))
            names: set[str] = set()
            for upload in files:
                name = display_name(upload.file_name)
                state.current = name
                if progress:
                    progress(state)
                if name in names:
                    reason = f"{name!r} is in this upload twice; the first one is kept"
                    state.failures.append(FileFailure(name, reason))
                else:
                    names.add(name)
                    document = DocumentIdentity(
                        collection_id=collection_id,
                        owner=owner,
                        source=UPLOAD_PREFIX + name,
                        file_name=name,
                    )
                    if upload.refused is not None:
                        self._fail(state, document, None, upload.size, upload.refused)
                    else:
                        self._ingest_one(upload.path, document, state)
                if not keep_files:
                    upload.path.unlink(missing_ok=True)
                state.files_done += 1
                if progress:
                    progress(state)
        finally:
            if not keep_files:
                discard(files)
        state.current = None
        if progress:
            progress(state)
        return state

    def ingest_upload(
        self,
        path: Path,
        *,
        file_name: str,
        collection: str = DEFAULT_COLLECTION,
        owner: str | None = None,
    ) -> IngestProgress:
        """Ingest an uploaded file (kept in the data dir); same name in a collection replaces.

        ``file_name`` is what the client sent; the document is named ``display_name(file_name)``.
        """
        collection_id = self.registry.collection_id(collection, owner=owner)
        assert collection_id is not None
        name = display_name(file_name)
        state = IngestProgress(files_total=1, current=name)
        self._ingest_one(
            path,
            DocumentIdentity(
                collection_id=collection_id,
                owner=owner,
                source=UPLOAD_PREFIX + name,
                file_name=name,
            ),
            state,
        )
        state.files_done = 1
        return state

    def replaced_by(
        self, file_names: Sequence[str], *, collection: str, owner: str | None
    ) -> list[ReplacedDocument]:
        """The documents of ``collection`` that uploads under these names would replace."""
        collection_id = self.registry.collection_id(collection, owner=owner, create=False)
        if collection_id is None:
            return []
        sources = [UPLOAD_PREFIX + display_name(name) for name in file_names]
        return self.registry.named(collection_id, sources)

    def original(self, document_id: str, *, owner: str | None) -> tuple[DocumentInfo, Path]:
        """The document and its stored original file, which re-indexing reads.

        DocumentNotFound when unknown or another owner's; Conflict when the original is not
        stored (a file that failed before it was copied in, or removed from the data dir).
        """
        # Only its owner re-reads a document; a shared one is read-only (Forbidden).
        info = self.registry.get(document_id, owner=owner, writable=True)
        try:
            if info.sha256 is None:
                raise FileNotFoundError(info.file_name)
            # A local file for the parsers: the store's own, or a copy of the object (s3).
            return info, self.files.local_path(info.sha256)
        except FileNotFoundError:
            # Named by its file name: the list a user re-indexes from shows names, not ids.
            why = (
                "because it failed before it was stored"
                if info.status == "failed"
                else "it is missing from storage"
            )
            raise Conflict(
                f"{info.file_name!r} cannot be re-indexed: its original file was not kept, {why}; "
                "upload the file again instead"
            ) from None

    def reindex(self, document_id: str, *, owner: str | None) -> Reindexed:
        """Parse and chunk a document's stored original again with the current settings, and put
        the result in place of its content: every document with the same bytes shares it, and
        all of them become ``indexing`` until their chunks have vectors again.

        A parse that fails now raises the reason ingestion would record (CorruptDocument,
        TooLarge…) and leaves the content alone: documents using it keep their chunks.  A
        document that had failed stays ``failed`` with this reason in place of its old one.
        """
        info, path = self.original(document_id, owner=owner)
        assert info.sha256 is not None  # ``original`` found the file by it
        try:
            if info.size > self.limits.max_file_bytes:
                raise TooLarge(
                    f"{info.file_name!r} is larger than the "
                    f"{self.limits.max_file_bytes:,}-byte limit",
                    field="file",
                )
            parsed, chunks = self._parse(path, info.file_name)
        except Exception as exc:
            reason = _failure_reason(exc, path, info.file_name)
            # Only this document: its reason names its file, and another document with the same
            # bytes may be indexed under other settings (or failed under another name).
            self.registry.record_failure(info.id, sha256=info.sha256, error=reason)
            if isinstance(exc, DocchatError):
                raise
            raise DocchatError(reason) from exc
        return self.registry.replace_content(
            info.id, sha256=info.sha256, parsed=parsed, chunks=chunks
        )

    def _parse(self, path: Path, file_name: str) -> tuple[ParsedDocument, list[Chunk]]:
        """Parse and chunk a file with the current settings; InvalidInput when it has no text,
        TooLarge when it has more passages than ``max_chunks_per_document``."""
        parsed = parse(path, self.limits, file_name=file_name)
        cap = self.limits.max_chunks_per_document
        # Cut one past the cap and stop: a 50 MB text file made 71,478 chunks, some 45 minutes
        # of embedding and 380 MB of database, before this limit.
        chunks = chunk(
            parsed,
            max_tokens=self.limits.chunk_tokens,
            overlap=self.limits.chunk_overlap,
            limit=cap + 1,
        )
        if not chunks:
            raise InvalidInput(f"{file_name!r} contains no text to index")
        if len(chunks) > cap:
            raise TooLarge(
                f"{file_name!r} has more than {cap:,} passages of "
                f"{self.limits.chunk_tokens} word-pieces, the most one document may have "
                "(documents.max_chunks_per_document); split it into smaller files",
                field="file",
            )
        return parsed, chunks

    def _ingest_one(self, path: Path, document: DocumentIdentity, state: IngestProgress) -> None:
        file_name = document.file_name
        sha: str | None = None
        size = 0
        try:
            sha, size = hash_file(path, max_bytes=self.limits.max_file_bytes, name=file_name)
            state.bytes += size
            existing = self.registry.find(document.collection_id, document.source)
            if existing and existing.sha256 == sha and existing.status != "failed":
                if self._read_again(path, existing.id, sha, file_name, state):
                    state.updated += 1
                else:
                    state.unchanged += 1
                state.document_ids.append(existing.id)
                state.contents.add(sha)
                return
            parsed: ParsedDocument | None = None
            chunks: list[Chunk] = []
            if not self.registry.has_content(sha):
                parsed, chunks = self._parse(path, file_name)
                self.files.put(path, sha)
                state.pages += parsed.page_count or 1
                state.chunks += len(chunks)
            row = self.registry.save_indexed(
                document,
                sha256=sha,
                size=size,
                parsed=parsed,
                chunks=chunks,
                stored_path=self.files.location(sha),
            )
            if parsed is None:  # known content: the current reader may read it better
                self._read_again(path, row.id, sha, file_name, state)
                state.embedded += self.registry.vectors_lent(
                    sha, owner=document.owner, besides=row.id
                )
            state.document_ids.append(row.id)
            state.contents.add(sha)
            if existing is None:
                state.added += 1
            else:
                state.updated += 1
                state.replaced.append(row.id)
        except Exception as exc:
            reason = _failure_reason(exc, path, file_name)
            self._fail(state, document, sha, size, reason)

    def _read_again(
        self, path: Path, document_id: str, sha: str, file_name: str, state: IngestProgress
    ) -> bool:
        """Read a known file again when an older reader made its content's text (a PDF read
        before paragraphs); whether it was.  A file the current reader cannot read keeps the
        text it has: an upgrade loses nothing."""
        if not self.registry.outdated_content(sha):
            return False
        try:
            parsed, chunks = self._parse(path, file_name)
            self.registry.replace_content(document_id, sha256=sha, parsed=parsed, chunks=chunks)
        except Exception as exc:
            log.warning(
                "kept the older text of %s: %s", file_name, _failure_reason(exc, path, file_name)
            )
            return False
        state.pages += parsed.page_count or 1
        state.chunks += len(chunks)
        return True

    def _fail(
        self,
        state: IngestProgress,
        document: DocumentIdentity,
        sha: str | None,
        size: int,
        reason: str,
    ) -> None:
        row = self.registry.save_failed(document, sha256=sha, size=size, error=reason)
        state.document_ids.append(row.id)
        state.failures.append(FileFailure(document.file_name, reason))


def _failure_reason(exc: Exception, path: Path, file_name: str) -> str:
    """Why ``file_name`` could not be indexed, for its document and the user: a docchat error's
    message, or a plain reason for a read error or a bug (whose details go to the log only)."""
    if isinstance(exc, DocchatError):
        return exc.message
    if isinstance(exc, OSError):
        log.warning("cannot read %s: %s", path, exc.strerror)
        return f"{file_name!r} cannot be read ({exc.strerror or 'I/O error'})"
    # A parser bug must not stop a batch nor leak internals; the log keeps the details.
    log.error("unexpected error while indexing %s", path, exc_info=exc)
    return f"{file_name!r} could not be processed (unexpected error; see server log)"
