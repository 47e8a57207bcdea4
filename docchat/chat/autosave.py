"""Autosave: a streamed answer's text reaches its session while it grows, not only at the end.

A turn with a task writes into an assistant message made as it begins
(``SessionStore.begin_answer``), so a server killed mid-answer leaves the text it had, which the
next process marks ``interrupted`` (``SessionStore.interrupt_answers``).  The text is saved at
most once per ``interval`` seconds, not per token: a token is a few characters and a save is a
transaction rewriting the whole text.  Saves run in a thread of their own, one at a time per
answer, so a busy database (SQLite's one writer in an ingestion batch) never stalls the stream; a
save that falls due while one runs waits for the next token.  A process killed mid-answer thus
loses at most the last ``interval`` seconds of text, plus the save in flight.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Autosave:
    """Collects an answer's pieces and hands the text so far to ``save``, at most every
    ``interval`` seconds, from a background thread."""

    def __init__(
        self,
        save: Callable[[str], object],
        *,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._save = save
        self._interval = interval
        self._clock = clock
        self._pieces: list[str] = []
        self._last = clock()
        self._saving: threading.Thread | None = None
        #: How many saves were started (for tests and benchmarks).
        self.saves = 0

    def add(self, piece: str) -> None:
        """Add the next piece of the answer; starts a save when one is due and none runs."""
        self._pieces.append(piece)
        now = self._clock()
        if now - self._last < self._interval:
            return
        if self._saving is not None and self._saving.is_alive():
            return
        self._last = now
        text = "".join(self._pieces)
        self._pieces = [text]
        self.saves += 1
        self._saving = threading.Thread(
            target=self._run, args=(text,), daemon=True, name="docchat-autosave"
        )
        self._saving.start()

    def close(self) -> None:
        """Wait for the save in flight, if any (the finished answer is stored after it)."""
        if self._saving is not None:
            self._saving.join()
            self._saving = None

    def _run(self, text: str) -> None:
        try:
            self._save(text)
        except Exception:  # the next save, or the finished answer, writes the text again
            log.warning("saving a streamed answer's text failed", exc_info=True)
