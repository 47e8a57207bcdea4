"""Render slots: at most ``concurrency`` renders at once, ``queue`` more waiting, the rest refused
at once; a waiter refused when no slot frees within ``wait_s``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from docchat.config import RenderSettings
from docchat.errors import Busy
from docchat.renders import RETRY_AFTER_S, RenderSlots


def wait_until(check: Callable[[], bool]) -> None:
    """Poll until ``check()`` is true (no deadline asserted: the test's own timeout bounds it)."""
    while not check():
        time.sleep(0.001)


def test_one_runs_one_waits_the_next_is_refused_at_once() -> None:
    slots = RenderSlots(RenderSettings(concurrency=1, queue=1, wait_s=600))
    release = threading.Event()
    order: list[str] = []

    def hold(name: str) -> None:
        with slots.slot(name):
            order.append(name)
            release.wait()

    first = threading.Thread(target=hold, args=("first",))
    first.start()
    wait_until(lambda: order == ["first"])
    second = threading.Thread(target=hold, args=("second",))
    second.start()
    wait_until(lambda: slots._admitted == 2)
    with pytest.raises(Busy) as refused, slots.slot("the third"):
        pytest.fail("a third render ran")
    assert refused.value.retry_after_s == RETRY_AFTER_S
    assert "1 at once, 1 waiting" in refused.value.message
    assert "the third was not started" in refused.value.message
    release.set()
    first.join()
    second.join()
    assert order == ["first", "second"]
    assert slots._admitted == 0
    with slots.slot("a later one"):
        pass


def test_a_waiter_is_refused_when_no_slot_frees_in_time() -> None:
    slots = RenderSlots(RenderSettings(concurrency=1, queue=5, wait_s=0.01))
    with slots.slot("the first"), pytest.raises(Busy), slots.slot("the second"):
        pytest.fail("the second ran while the first held the only slot")
    assert slots._admitted == 0


def test_an_error_in_a_render_frees_its_slot() -> None:
    slots = RenderSlots(RenderSettings(concurrency=1, queue=0, wait_s=0.01))
    with pytest.raises(ValueError), slots.slot("a failing render"):
        raise ValueError("boom")
    with slots.slot("the next"):
        pass
