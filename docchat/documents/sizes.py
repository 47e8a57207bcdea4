"""Byte counts as people read them, for the messages of size limits and quotas."""

from __future__ import annotations


def format_size(size: int) -> str:
    """A byte count for people: "950 bytes", "12.3 KB", "104.9 MB"."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:,.1f} MB"
