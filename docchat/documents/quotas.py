"""Upload quotas: how much one upload request may still bring in, and what to say past it.

Four settings bound an upload's bytes, the tightest one wins: the request's own total
(``documents.max_upload_bytes``), the data dir's size (``max_data_dir_bytes``: database, stored
originals and spooled uploads) and the owner's bytes (``max_bytes_per_owner``); its files are
bounded by a per-request count and the owner's documents (``max_documents_per_owner``).  An
owner's usage is what the rows recorded under that owner hold (``owners.owned_by``): the one
owner-less user today, each user once accounts exist.  Usage is measured as a request starts, so
two requests of one owner at once may together pass a quota by up to one request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from docchat.config import DocumentSettings
from docchat.documents.sizes import format_size
from docchat.errors import QuotaExceeded, TooLarge


@dataclass(frozen=True, slots=True)
class Cap:
    """One bound on an upload: how much is left under it, and the message past it."""

    left: int
    message: str
    quota: bool  # an owner's or the data dir's quota (QuotaExceeded), not a size limit

    def error(self, field: str) -> TooLarge:
        """The error to raise when an upload passes this cap."""
        cls = QuotaExceeded if self.quota else TooLarge
        return cls(self.message, field=field)


@dataclass(frozen=True, slots=True)
class Usage:
    """What an owner has stored: documents (failed ones too) and their files' bytes."""

    documents: int
    bytes: int


@dataclass(frozen=True, slots=True)
class UploadAllowance:
    """The tightest caps on one upload request's bytes and files."""

    bytes: Cap
    files: Cap


def upload_allowance(
    limits: DocumentSettings,
    *,
    max_files: int,
    data_dir_bytes: int | None,
    usage: Usage | None,
) -> UploadAllowance:
    """The caps on a request, given the data dir's size (None when it is not limited) and the
    owner's usage (None when no owner quota is set)."""
    request = limits.max_upload_bytes
    byte_caps = [
        Cap(
            request,
            f"this upload is larger than {_bytes(request)}, the most one request may bring "
            "(documents.max_upload_bytes)",
            quota=False,
        )
    ]
    file_caps = [Cap(max_files, f"at most {max_files} files may be sent at once", quota=False)]
    if limits.max_data_dir_bytes is not None and data_dir_bytes is not None:
        cap = limits.max_data_dir_bytes
        byte_caps.append(
            Cap(
                cap - data_dir_bytes,
                f"this upload would take the data dir past its limit of {_bytes(cap)} "
                f"(documents.max_data_dir_bytes; {format_size(data_dir_bytes)} used)",
                quota=True,
            )
        )
    if usage is not None and limits.max_bytes_per_owner is not None:
        cap = limits.max_bytes_per_owner
        byte_caps.append(
            Cap(
                cap - usage.bytes,
                f"this upload would take your documents past {_bytes(cap)}, the most one owner "
                f"may store (documents.max_bytes_per_owner; {usage.bytes:,} bytes used)",
                quota=True,
            )
        )
    if usage is not None and limits.max_documents_per_owner is not None:
        cap = limits.max_documents_per_owner
        file_caps.append(
            Cap(
                cap - usage.documents,
                f"this upload would take you past {cap:,} documents, the most one owner may have "
                f"(documents.max_documents_per_owner; {usage.documents:,} stored)",
                quota=True,
            )
        )
    return UploadAllowance(
        bytes=min(byte_caps, key=lambda c: c.left), files=min(file_caps, key=lambda c: c.left)
    )


def directory_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (links not followed; files that vanish while
    it walks are skipped).  Measured once per upload request, and only with a data dir limit:
    10,000 stored files in 100 folders take about 55 ms here."""
    total = 0
    pending = [path]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def _bytes(size: int) -> str:
    return f"{size:,} bytes" if size < 1000 else f"{format_size(size)} ({size:,} bytes)"
