"""Which document a file is: one value instead of four loose keyword arguments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentIdentity:
    """A document's place in the registry: its collection and source (together the key an
    ingested file is matched by), its owner and the name it is shown under.

    ``source`` is a path on this machine, or ``upload:<name>`` for an upload.
    """

    collection_id: str
    owner: str | None
    source: str
    file_name: str
