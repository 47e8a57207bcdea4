"""Expensive renders, a few at a time: PDF and Word transcripts of sessions, PDF pages as images.

One such request takes a core for seconds and up to hundreds of megabytes.  Unbounded, six PDF
exports of a large session at once pushed a chat's latency from 0.2 s to 11.6 s, and 24 page
images of a tall page at once took the server from 0.69 to 2.2 GB, of which it kept 1.7 GB.  So
every render takes one of ``concurrency`` slots; up to ``queue`` more wait for one, each for at
most ``wait_s``; the rest are refused at once with ``Busy`` (HTTP 503 with Retry-After).  A bound
on those waiting also bounds the server threads they hold.

After a render its memory goes back to the system (``give_back_memory``): glibc keeps freed
blocks in its per-thread arenas for reuse, which is what held the 1.7 GB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from docchat.config import RenderSettings
from docchat.errors import Busy

#: What a refused render is told: long enough for a render or two to finish.
RETRY_AFTER_S = 5


class RenderSlots:
    """At most ``concurrency`` renders at once, ``queue`` more waiting; the rest are refused."""

    def __init__(self, settings: RenderSettings) -> None:
        self.settings = settings
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._lock = threading.Lock()
        self._admitted = 0  # running plus waiting

    @contextmanager
    def slot(self, what: str) -> Iterator[None]:
        """Hold a slot while the block runs; Busy (naming ``what``) when none frees in time or
        too many wait already."""
        limit = self.settings.concurrency + self.settings.queue
        with self._lock:
            if self._admitted >= limit:
                raise self._busy(what)
            self._admitted += 1
        try:
            if not self._slots.acquire(timeout=self.settings.wait_s):
                raise self._busy(what)
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._admitted -= 1

    def _busy(self, what: str) -> Busy:
        s = self.settings
        return Busy(
            f"too many exports and page images are being drawn ({s.concurrency} at once, "
            f"{s.queue} waiting); {what} was not started, try again in {RETRY_AFTER_S} s",
            retry_after_s=RETRY_AFTER_S,
        )


def give_back_memory() -> None:
    """Return the C heap's free memory to the system (glibc only; elsewhere nothing to do)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> ctypes._NamedFuncPointer | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim
