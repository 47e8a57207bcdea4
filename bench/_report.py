"""Small helpers the benchmarks share: percentiles, number formatting, Rich tables, machine facts,
progress lines and the end of a run.

Benchmarks run as scripts (``python bench/sessions.py``), so Python puts ``bench/`` on ``sys.path``
and they import this module as ``_report``.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import platform
import pstats
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

#: Printed where a measurement was not taken (too slow to be worth it, or not applicable).
NOT_RUN = "—"

_progress = Console(stderr=True, style="dim")


def report_console(width: int = 150) -> Console:
    """The console the tables print to: the terminal's width, or ``width`` columns when piped."""
    console = Console()
    if not console.is_terminal:
        # Piped into a file or a CI log Rich assumes 80 columns, which folds every table.
        console.width = width
    return console


def step(message: str) -> None:
    """Say what is running, on stderr so that stdout holds only the tables."""
    _progress.print(f"… {message}")


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100) of ``samples``, interpolated between the closest ranks."""
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return float(samples[0])
    if pct == 50:
        return float(statistics.median(samples))
    # 1000 cut points give p99.9 and every whole percentile; "inclusive" treats the samples as the
    # whole population, so p100 is the maximum and nothing is extrapolated past it.
    cuts = statistics.quantiles(samples, n=1000, method="inclusive")
    index = round(pct * 10) - 1
    if index < 0:
        return float(min(samples))
    if index >= len(cuts):
        return float(max(samples))
    return cuts[index]


def ms(ns: float) -> str:
    """Nanoseconds as milliseconds, with precision that suits the magnitude."""
    if ns != ns:  # NaN: nothing measured
        return NOT_RUN
    value = ns / 1e6
    if value < 1:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def rate(count: int, elapsed_ns: int) -> float:
    """Operations per second."""
    return count / (elapsed_ns / 1e9) if elapsed_ns > 0 else float("nan")


def num(value: float | None, digits: int = 0, suffix: str = "") -> str:
    """A number with thousands separators, or NOT_RUN for None/NaN."""
    if value is None or value != value:
        return NOT_RUN
    return f"{value:,.{digits}f}{suffix}"


def verdict(ok: bool) -> str:
    """Rich markup for a target's outcome, loud when it fails."""
    return "[bold green]PASS[/]" if ok else "[bold white on red] FAIL [/]"


def table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], caption: str | None = None
) -> Table:
    """A Rich table; every column after the first is right-aligned (they hold numbers)."""
    out = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for i, name in enumerate(columns):
        out.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        out.add_row(*row)
    return out


def print_targets(
    console: Console, checks: Sequence[dict[str, Any]], caption: str | None = None
) -> None:
    """The Targets table and a one-line PASS/FAIL verdict under it."""
    console.print(
        table(
            "Targets (docchat)",
            ["target", "measured", "threshold", "result"],
            ([c["target"], c["measured"], c["threshold"], verdict(c["ok"])] for c in checks),
            caption=caption,
        )
    )
    failed = [c["target"] for c in checks if not c["ok"]]
    if failed:
        console.print(f"[bold red]FAIL: {len(failed)} of {len(checks)} targets missed.[/]")
    else:
        console.print(f"[bold green]PASS: all {len(checks)} targets met.[/]")


def print_machine(console: Console, facts: dict[str, str]) -> None:
    """The Machine table, and a warning under it when other jobs keep the CPUs busy."""
    console.print(table("Machine", ["fact", "value"], facts.items()))
    if busy():
        console.print(
            "[bold yellow]Other jobs are keeping this machine busy: expect noisy timings.[/]"
        )


def print_profile(console: Console, profiler: cProfile.Profile, title: str, lines: int) -> None:
    """``title``, then the ``lines`` first calls of the profile by cumulative time."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(lines)
    console.print(title)
    console.print(out.getvalue(), markup=False, highlight=False)


def finish(
    console: Console, results: dict[str, Any], started: float, json_path: str | None
) -> None:
    """Add the wall time since ``started`` and the load now to ``results``, print both, and
    write ``results`` to ``json_path`` when one is given."""
    results["wall_s"] = time.perf_counter() - started
    results["load_at_end"] = load()
    console.print(f"[dim]Wall time: {results['wall_s']:.0f} s; load average now {load()}[/]")
    if json_path:
        dump_json(json_path, results)
        console.print(f"[dim]Results written to {json_path}[/]")


def machine_facts(**extra: str) -> dict[str, str]:
    """What a reader needs to compare timings between machines."""
    facts = {
        "CPUs": str(os.cpu_count()),
        "Platform": platform.platform(),
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "SQLite": sqlite3.sqlite_version,
        "Load average (1/5/15 min)": load(),
    }
    facts.update(extra)
    return facts


def load() -> str:
    """The load averages, to tell a quiet machine from one other jobs are busy on."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not available on this platform
        return NOT_RUN


def busy() -> bool:
    """Whether other jobs keep more than half the CPUs busy (so timings will be noisy)."""
    try:
        return os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1)
    except OSError:
        return False


def dump_json(path: str | Path, data: Any) -> None:
    """Write results as indented JSON (NaN becomes null so every JSON reader accepts it)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and value != value:
            return None
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    Path(path).write_text(json.dumps(clean(data), indent=2, ensure_ascii=False) + "\n")
