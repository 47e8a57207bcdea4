"""One turn on the terminal: ask, stream the answer, then show its references and how it ended.

Shared by ``ask`` and ``chat``; ``sessions show`` draws stored references with the same table.
"""

from __future__ import annotations

import signal
import textwrap
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from docchat.cli.core import console, err_console, print_error, print_table

if TYPE_CHECKING:
    from types import FrameType

    from docchat.chat.types import Answer, ErrorEvent, Question
    from docchat.workspace import Workspace

#: Characters of a quote or passage shown in a table cell.
QUOTE_CHARS = 160


@dataclass
class TurnOutcome:
    """How a turn ended: the stored answer (None only if a second Ctrl-C cut it short), the error
    that failed it, and whether Ctrl-C stopped it."""

    answer: Answer | None = None
    error: ErrorEvent | None = None
    stopped: bool = False


@contextmanager
def _ctrl_c_sets(cancel: threading.Event) -> Iterator[None]:
    """While the block runs, Ctrl-C sets ``cancel`` rather than raising; a second one raises.

    A KeyboardInterrupt raised inside the turn's generator would end it before it stored its
    partial answer; with the flag the turn stops at its next step (the next piece of the reply)
    and stores what it has, marked cancelled.  The second Ctrl-C is for a model that sends
    nothing.  Signal handlers can only be set from the main thread; elsewhere the caller's
    ``except KeyboardInterrupt`` is all there is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 (signature)
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err_console.print("\n[yellow]stopping…[/yellow] [dim](Ctrl-C again to quit now)[/dim]")

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def run_turn(workspace: Workspace, question: Question, *, stream: bool) -> TurnOutcome:
    """Ask ``question``, writing the answer to stdout as it arrives when ``stream`` and the status
    of long modes to stderr.  Errors before the turn starts (unknown session, empty question)
    are raised; a failure after it started is in the outcome, the turn stored."""
    from docchat.chat.types import DoneEvent, ErrorEvent, ProgressEvent, TokenEvent

    cancel = threading.Event()
    outcome = TurnOutcome()
    events = workspace.ask_stream(question, cancel=cancel)
    at_line_start = True
    try:
        with _ctrl_c_sets(cancel):
            for event in events:
                if isinstance(event, TokenEvent):
                    if stream and event.text:
                        typer.echo(event.text, nl=False)
                        at_line_start = event.text.endswith("\n")
                elif isinstance(event, ProgressEvent):
                    counts = f" ({event.done}/{event.total})" if event.total else ""
                    if not at_line_start:
                        typer.echo()
                        at_line_start = True
                    err_console.print(f"[dim]… {escape(event.status)}{counts}[/dim]")
                elif isinstance(event, DoneEvent):
                    outcome.answer = event.answer
                elif isinstance(event, ErrorEvent):
                    outcome.error = event
                    outcome.answer = event.answer
    except KeyboardInterrupt:
        # A second Ctrl-C, or one outside the main thread: a turn paused between two events
        # stores what it had as it closes; one interrupted inside keeps only the question.
        cancel.set()
        close = getattr(events, "close", None)  # a generator, typed as an iterator
        if close is not None:
            close()
    if stream and not at_line_start:
        typer.echo()
    outcome.stopped = cancel.is_set()
    return outcome


def _shorten(text: str, width: int = QUOTE_CHARS) -> str:
    """``text`` on one line, cut at a word boundary to at most ``width`` characters."""
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder=" …")


def references_table(references: Sequence[Mapping[str, Any]], *, title: str) -> Table:
    """Citations (or the closest passages of an abstention) as rows: n, file, page, section, quote.

    Takes them as dicts, as stored messages hold them (older files' references are free-form).
    """
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right")
    table.add_column("file", style="bold", overflow="fold")
    table.add_column("page", justify="right")
    table.add_column("section", overflow="fold")
    table.add_column("quote", ratio=1)
    for position, ref in enumerate(references, 1):
        source = ref.get("file_name") or ref.get("title") or ref.get("url") or ""
        page = ref.get("page")
        quote = ref.get("quote") or ref.get("snippet") or ""
        table.add_row(
            str(ref.get("n", position)),
            escape(str(source)),
            str(page) if page is not None else "",
            escape(str(ref.get("section") or "")),
            escape(_shorten(str(quote))),
        )
    return table


def _turn_line(answer: Answer, *, failed: bool = False) -> str:
    """The turn's summary: session, mode, model, abstained, and how it ended if not well."""
    meta = answer.metadata
    parts = [
        f"session: {answer.session_id}",
        f"mode: {meta.get('mode', '?')}",
        f"model: {meta.get('model', '?')}",
        f"abstained: {'yes' if meta.get('abstained') else 'no'}",
    ]
    if meta.get("cancelled"):
        parts.append("stopped")
    if failed:
        parts.append("failed")
    return escape(" · ".join(parts))


def show_turn(outcome: TurnOutcome) -> None:
    """After the streamed text: the references (or the closest passages of an abstention), the
    summary line, and how a failed or stopped turn was stored."""
    answer = outcome.answer
    if answer is not None:
        if answer.metadata.get("abstained"):
            console.print(
                "[bold yellow]Abstained:[/bold yellow] your documents do not answer this."
            )
            closest = answer.metadata.get("closest") or []
            if closest:
                print_table(references_table(closest, title="Closest passages (not cited)"))
        elif answer.references:
            references = [r.model_dump() for r in answer.references]
            print_table(references_table(references, title="References"))
        console.print(_turn_line(answer, failed=outcome.error is not None), style="dim")
    report_ending(outcome)


def report_ending(outcome: TurnOutcome) -> None:
    """On stderr: the error of a failed turn, or that Ctrl-C stopped it, and what was stored."""
    answer = outcome.answer
    if outcome.error is not None:
        print_error(outcome.error.message)
        if answer is not None:
            err_console.print(
                f"The question and the failed turn are stored in session {answer.session_id}."
            )
    elif outcome.stopped and answer is not None:
        err_console.print(
            f"[yellow]Stopped:[/yellow] the partial answer is stored in session "
            f"{answer.session_id}."
        )
    elif outcome.stopped:  # a second Ctrl-C cut the turn short
        err_console.print(
            "[yellow]Interrupted:[/yellow] the question is stored; the answer may not be."
        )
