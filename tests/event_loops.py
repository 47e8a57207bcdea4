"""Running a coroutine from a synchronous test, whatever ran in this pytest process before.

Playwright's sync API (the browser tests, in the same worker process) leaves an event loop marked
running in the main thread, so a plain ``anyio.run`` after one fails with "Cannot run the event
loop while another loop is running".  ``run_async`` runs it in a thread of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    """``anyio.run(main)`` in a thread of its own; its result, or its exception re-raised."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(anyio.run(main))
        except BaseException as exc:  # handed back to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="run-async")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
