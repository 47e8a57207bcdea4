"""Jobs for tests, registered by name like docchat's own, so that either task runner runs them (in
this process: a worker of another process does not know them)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from docchat.tasks import Progress
from docchat.tasks.jobs import JobParts, register_job
from docchat.tasks.runner import Job

BLOCK, VALUE, FAIL = "test-block", "test-value", "test-fail"
#: A blocking job's events by key: set as it starts; it waits for the second.
_GATES: dict[str, tuple[threading.Event, threading.Event]] = {}


def blocking_job(started: threading.Event, release: threading.Event) -> Job:
    """A job that sets ``started``, then waits (30 s at most) for ``release``, checking every
    tenth of a second whether it was cancelled."""
    key = str(uuid.uuid4())
    _GATES[key] = (started, release)
    return Job(BLOCK, {"gate": key})


def value_job(value: Any) -> Job:
    """A job whose result is ``value``."""
    return Job(VALUE, {"value": value})


def failing_job() -> Job:
    """A job that fails unexpectedly every time it runs."""
    return Job(FAIL)


@register_job(BLOCK)
def _block(_parts: JobParts, job: Job, progress: Progress) -> str:
    started, release = _GATES[job.args["gate"]]
    started.set()
    for _ in range(300):
        if release.wait(0.1):
            break
        progress.check_cancelled()
    return "released"


@register_job(VALUE)
def _value(_parts: JobParts, job: Job, _progress: Progress) -> Any:
    return job.args["value"]


@register_job(FAIL)
def _fail(_parts: JobParts, _job: Job, _progress: Progress) -> None:
    raise RuntimeError("this job always fails")
