"""Receiving uploads: a multipart body streamed to temporary files, each size-checked as it arrives.

Starlette's form parser reads the whole body before the route runs, spooling files to the system
temp dir with no size limit.  Here the body is parsed as it streams in: each file goes to its own
temporary file in the folder given (``Workspace.upload_dir``, ``<data_dir>/uploads/<lease id>``),
and the first byte over ``max_file_bytes``, or over the request's allowance (its total, the data
dir's and the owner's quotas: ``docchat.documents.quotas``), ends the upload with TooLarge and
deletes everything written for it.  If the process dies, the next one to start (or the periodic
clean-up) deletes its folder (docchat.tasks.leases).

A file is judged by its name and first bytes (``parsers.sniff``) before any of it is written: one
that would be refused anyway (``.bin``, ``.zip``, random bytes named ``.pdf``) is read to its end
but not written, and comes back marked ``refused`` for its task to report; three 60 MB ``.bin``
files used to spool 176 MB.  A client's file name is only ever a display name
(``display_name``, which refuses invisible characters); every path on disk is one we chose.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio.to_thread
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from docchat.documents.ingest import UploadedFile, discard, display_name
from docchat.documents.parsers import SNIFF_BYTES, sniff
from docchat.documents.quotas import UploadAllowance
from docchat.errors import CorruptDocument, InvalidInput, TooLarge, UnsupportedFormat
from docchat.tasks.leases import SPOOL_DIR, UPLOAD_PREFIX

log = logging.getLogger(__name__)

#: Folder of the data dir holding uploads (a folder per process) until their task has read them.
UPLOAD_DIR = SPOOL_DIR
#: Files accepted in one request.
MAX_FILES = 1000
#: Largest value of a text field (say, ``collection``).
MAX_FIELD_BYTES = 4096
#: Largest header line of a form part (the file name is in one).
MAX_HEADER_BYTES = 65_536
_PREFIX = UPLOAD_PREFIX


@dataclass(frozen=True, slots=True)
class UploadForm:
    """A received form: its files (in order) and its text fields."""

    files: list[UploadedFile]
    fields: dict[str, str]


async def receive_upload(
    request: Request,
    directory: Path,
    *,
    max_file_bytes: int,
    allowance: UploadAllowance | None = None,
    file_field: str = "files",
    text_fields: Collection[str] = (),
) -> UploadForm:
    """Stream a multipart/form-data body into temporary files under ``directory``.

    Only ``file_field`` (any number of files, at least one; at most ``MAX_FILES`` or what
    ``allowance`` says) and ``text_fields`` (once each) are accepted.  An allowance with no room
    left refuses the request before its body is read.  On any error, nothing received stays on
    disk.  The caller owns the files returned.
    """
    media_type, params = parse_options_header(request.headers.get("content-type"))
    if media_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise InvalidInput("send the files as multipart/form-data", field=file_field)
    if allowance is not None:
        for cap in (allowance.files, allowance.bytes):
            if cap.left <= 0:
                raise cap.error(file_field)
    await anyio.to_thread.run_sync(lambda: directory.mkdir(parents=True, exist_ok=True))
    receiver = _Receiver(
        params[b"boundary"],
        directory,
        max_file_bytes=max_file_bytes,
        allowance=allowance,
        file_field=file_field,
        text_fields=frozenset(text_fields),
    )
    try:
        async for chunk in request.stream():
            if chunk:
                # Parsing and writing are blocking: one thread hop per chunk the server hands us.
                await anyio.to_thread.run_sync(receiver.feed, chunk)
        return receiver.finish()
    except ClientDisconnect:
        receiver.discard()
        raise InvalidInput("the upload was interrupted", field=file_field) from None
    except BaseException:
        receiver.discard()
        raise


class _Receiver:
    """The python-multipart callbacks: one part at a time, files written as their bytes arrive."""

    def __init__(
        self,
        boundary: bytes,
        directory: Path,
        *,
        max_file_bytes: int,
        allowance: UploadAllowance | None,
        file_field: str,
        text_fields: frozenset[str],
    ) -> None:
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self.allowance = allowance
        self.max_files = MAX_FILES if allowance is None else min(MAX_FILES, allowance.files.left)
        self.file_field = file_field
        self.text_fields = text_fields
        self.files: list[UploadedFile] = []
        self.fields: dict[str, str] = {}
        self.ended = False
        # The part being read.
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._name = ""
        self._client_name: str | None = None
        self._shown = ""  # the file's display name
        self._out: IO[bytes] | None = None
        self._path: Path | None = None
        self._size = 0
        self._total = 0  # bytes of every file part so far
        # A file part's first bytes, held until ``sniff`` has judged them; then written, or not.
        self._head: bytearray | None = None
        self._refused: str | None = None
        self._value = bytearray()
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._part_begin,
                    "on_header_field": self._header_field,
                    "on_header_value": self._header_value_data,
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": self._part_data,
                    "on_part_end": self._part_end,
                    "on_end": self._end,
                },
                # python-multipart's default (4,224 bytes) refuses a long file name as if the
                # body were malformed; names are cut to length later, so take what a browser
                # sends for a deep folder upload.
                max_header_size=MAX_HEADER_BYTES,
            )
        except FormParserError:
            raise InvalidInput("the multipart boundary is invalid", field=file_field) from None

    def feed(self, chunk: bytes) -> None:
        """Parse the next piece of the body."""
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            if "header size" in str(exc):  # python-multipart says which limit it hit
                raise TooLarge(
                    f"a form part's header (its file name) is longer than {MAX_HEADER_BYTES} bytes",
                    field=self.file_field,
                ) from None
            raise InvalidInput(
                "request body is not valid multipart/form-data", field=self.file_field
            ) from None

    def finish(self) -> UploadForm:
        """The form, once the body has ended; InvalidInput if it was cut short or had no file."""
        self._parser.finalize()
        if not self.ended:
            raise InvalidInput("the upload ended before its last part", field=self.file_field)
        if not self.files:
            raise InvalidInput(
                f"no file was uploaded: send one or more {self.file_field!r} parts",
                field=self.file_field,
            )
        return UploadForm(files=list(self.files), fields=dict(self.fields))

    def discard(self) -> None:
        """Close and delete every file written so far."""
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None
        discard(self.files)
        self.files.clear()

    # -- callbacks -------------------------------------------------------------------------------

    def _part_begin(self) -> None:
        self._disposition = b""
        self._name = ""
        self._client_name = None
        self._shown = ""
        self._size = 0
        self._head = None
        self._refused = None
        self._value.clear()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header_name).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise InvalidInput("every form part needs a name", field=self.file_field)
        name = _decode(options[b"name"])
        filename = options.get(b"filename")
        if name == self.file_field:
            if filename is None:
                raise InvalidInput(f"{name!r} parts must be files", field=name)
            if len(self.files) >= self.max_files:
                if self.allowance is not None:
                    raise self.allowance.files.error(name)
                raise TooLarge(f"at most {MAX_FILES} files may be sent at once", field=name)
            self._client_name = _decode_file_name(filename)
            # Refuses a name with invisible characters (422) before any of the file is read.
            self._shown = display_name(self._client_name, field=name)
            fd, path = tempfile.mkstemp(dir=self.directory, prefix=_PREFIX)
            self._path = Path(path)
            self._out = os.fdopen(fd, "wb")
            self._head = bytearray()
        elif name in self.text_fields:
            if filename is not None:
                raise InvalidInput(f"{name!r} must be a text field, not a file", field=name)
            if name in self.fields:
                raise InvalidInput(f"{name!r} was sent more than once", field=name)
        else:
            expected = ", ".join(repr(f) for f in sorted({self.file_field, *self.text_fields}))
            raise InvalidInput(f"unknown form field; expected {expected}", field=name[:100])
        self._name = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._out is not None:
            self._size += size
            self._total += size
            if self._size > self.max_file_bytes:
                raise TooLarge(
                    f"{self._shown!r} is larger than the {self.max_file_bytes:,}-byte limit",
                    field=self.file_field,
                )
            if self.allowance is not None and self._total > self.allowance.bytes.left:
                raise self.allowance.bytes.error(self.file_field)
            if self._refused is not None:
                return  # read to its end, never written
            if self._head is None:
                self._out.write(data[start:end])
                return
            self._head += data[start:end]
            if len(self._head) >= SNIFF_BYTES:
                self._judge()
        else:
            if len(self._value) + size > MAX_FIELD_BYTES:
                raise TooLarge(
                    f"{self._name!r} is longer than {MAX_FIELD_BYTES} bytes", field=self._name
                )
            self._value += data[start:end]

    def _part_end(self) -> None:
        if self._out is None:
            try:
                self.fields[self._name] = self._value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{self._name!r} is not UTF-8 text", field=self._name) from None
            return
        if self._head:
            self._judge()  # a file shorter than SNIFF_BYTES
        self._out.close()
        self._out = None
        assert self._path is not None
        path, self._path = self._path, None
        if self._client_name == "" and self._size == 0:
            path.unlink()  # a browser's file input with nothing chosen
            return
        self.files.append(
            UploadedFile(path=path, file_name=self._shown, size=self._size, refused=self._refused)
        )

    def _judge(self) -> None:
        """Write the held first bytes, or refuse the file (and write nothing of it)."""
        assert self._out is not None and self._head is not None
        head, self._head = bytes(self._head), None
        try:
            sniff(head[:SNIFF_BYTES], name=self._shown)
        except (UnsupportedFormat, CorruptDocument) as exc:
            self._refused = exc.message
            return
        self._out.write(head)

    def _end(self) -> None:
        self.ended = True


# The HTML standard has browsers escape exactly these three characters in multipart file names.
_FILE_NAME_ESCAPES = {"%22": '"', "%0D": "\r", "%0A": "\n"}


def _decode_file_name(raw: bytes) -> str:
    name = _decode(raw)
    for escaped, char in _FILE_NAME_ESCAPES.items():
        name = name.replace(escaped, char)
    return name


def _decode(raw: bytes) -> str:
    # Browsers send form names and file names as raw UTF-8; anything else is shown mangled, not
    # refused.
    return raw.decode("utf-8", errors="replace")
