"""The ``eval`` command: retrieval (recall, MRR) or answers (keywords, abstention, citations)
measured on a file of questions with known answers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from docchat.cli.core import (
    ChatMode,
    EvalMode,
    app,
    chat_mode_metavar,
    chat_mode_parser,
    console,
    err_console,
    fail,
    open_workspace,
    print_table,
    progress_bars,
    reported,
    warn_missing_vectors,
)

if TYPE_CHECKING:
    from docchat.chat.types import Answer
    from docchat.evaluation.answer_report import AnswerMetrics, AnswerReport, Axis, RunReport
    from docchat.evaluation.retrieval import EvaluationReport
    from docchat.retrieval.hybrid import Hit
    from docchat.workspace import Workspace


def _eval_table(report: EvaluationReport) -> Table:
    """Rows: question type x mode; the best mode per metric and type in bold green."""
    from docchat.evaluation.retrieval import CUTOFFS, Metric

    k = report.k
    # Cutoffs above k are not measured; recall@k is shown once when k is one of them.
    columns: list[tuple[str, Metric]] = [
        (f"R@{n}", cast("Metric", f"recall_at_{n}")) for n in CUTOFFS if n <= k
    ]
    if k not in CUTOFFS:
        columns.append((f"R@{k}", "recall_at_k"))
    columns.append((f"MRR@{k}", "mrr_at_k"))
    if any(m.overall.evidence_questions for m in report.modes):
        columns.append(("evid.@5", "evidence_recall_at_5"))
    columns.append(("ms", "mean_latency_ms"))
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("type", style="bold")
    table.add_column("mode")
    table.add_column("n", justify="right")
    for header, _ in columns:
        table.add_column(header, justify="right")
    compare = len(report.modes) > 1
    groups: list[str | None] = [None]
    if report.types != ["default"]:
        groups += report.types
    for question_type in groups:
        for position, mode_report in enumerate(report.modes):
            metrics = report.metrics(mode_report.mode, question_type)
            cells = []
            for _, name in columns:
                value = getattr(metrics, name)
                if value is None:  # evidence recall of a group without evidence
                    cells.append("")
                    continue
                text = f"{value:.1f}" if name == "mean_latency_ms" else f"{value:.3f}"
                if compare and mode_report.mode in report.best_modes(name, question_type):
                    text = f"[bold green]{text}[/bold green]"
                cells.append(text)
            label = "all" if question_type is None else escape(question_type)
            table.add_row(
                label if position == 0 else "",
                mode_report.mode,
                str(metrics.questions),
                *cells,
                end_section=position == len(report.modes) - 1,
            )
    return table


def _answer_cell(metrics: AnswerMetrics, name: str) -> tuple[str, float | None]:
    """A metric's text and its value for comparison (higher is better; latency, false
    abstentions and fragments negated)."""
    if name == "correct_abstention":
        value = metrics.correct_abstention
        text = (
            f"{metrics.correct_abstentions}/{metrics.unanswerable}" if metrics.unanswerable else ""
        )
        return text, value
    if name == "fragment_citations":
        count = metrics.fragment_citations
        return (f"{count}/{metrics.references}", -count) if metrics.references else ("", None)
    value = getattr(metrics, name)
    if value is None:
        return "", None
    if name.endswith("latency_ms"):
        return f"{value:.0f}", -value
    if name == "false_abstention_rate":
        return f"{value:.3f}", -value
    return f"{value:.3f}", value


#: (header, AnswerMetrics field) of the answer table.
_ANSWER_COLUMNS = [
    ("keywords", "keyword_accuracy"),
    ("abstained", "correct_abstention"),
    ("false abst.", "false_abstention_rate"),
    ("cit. prec.", "citation_precision"),
    ("fragments", "fragment_citations"),
    ("evid.@5", "evidence_recall_at_5"),
    ("ms", "mean_latency_ms"),
    ("p95 ms", "p95_latency_ms"),
]
#: How the table names a baseline (``docchat.evaluation.baselines``).
_BASELINE_LABELS = {"top_passage": "top passage", "top_sentences": "top 3 sentences"}


def _answer_groups(report: AnswerReport) -> list[tuple[str, Axis | None, str | None]]:
    """The table's groups: all questions, then per type (when there are several), format and
    kind (when the file gives them), as (label, axis, value)."""
    groups: list[tuple[str, Axis | None, str | None]] = [("all", None, None)]
    if report.types != ["default"]:
        groups += [(t, "type", t) for t in report.types]
    groups += [(f"format: {f}", "format", f) for f in report.formats]
    groups += [(f"kind: {k}", "kind", k) for k in report.kinds]
    return groups


def _answer_table(report: AnswerReport) -> Table:
    """Rows: question group x mode x model, each run followed by its baselines (dim); the best
    run per metric and group in bold green (baselines are not ranked)."""
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("group", style="bold")
    table.add_column("mode")
    table.add_column("model", overflow="fold")
    table.add_column("answers")
    table.add_column("n", justify="right")
    for header, _ in _ANSWER_COLUMNS:
        table.add_column(header, justify="right")
    compare = len(report.runs) > 1
    for label, axis, value in _answer_groups(report):
        rows = [(run, run.group(axis, value)) for run in report.runs]
        best: dict[str, float] = {}
        for _, name in _ANSWER_COLUMNS:
            values = [v for _, m in rows if (v := _answer_cell(m, name)[1]) is not None]
            if values:
                best[name] = max(values)
        lines: list[tuple[RunReport, str, AnswerMetrics, bool]] = []
        for run, metrics in rows:
            lines.append((run, "docchat", metrics, True))
            lines += [
                (run, _BASELINE_LABELS[b.baseline], b.group(axis, value), False)
                for b in run.baselines
            ]
        for position, (run, answerer, metrics, ranked) in enumerate(lines):
            cells = []
            for _, name in _ANSWER_COLUMNS:
                text, cell_value = _answer_cell(metrics, name)
                if ranked and compare and cell_value is not None and cell_value == best.get(name):
                    text = f"[bold green]{text}[/bold green]"
                cells.append(text if ranked else f"[dim]{text}[/dim]" if text else "")
            table.add_row(
                escape(label) if position == 0 else "",
                run.mode if ranked else "",
                escape(run.model) if ranked else "",
                answerer if ranked else f"[dim]{answerer}[/dim]",
                str(metrics.questions),
                *cells,
                end_section=position == len(lines) - 1,
            )
    return table


def _require_indexed(workspace: Workspace, collections: list[str] | None) -> None:
    """End the command when no document it would search is indexed: every score would be 0."""
    # Documents being embedded are searchable by full text already; pending and failed ones are
    # not searchable at all.
    searchable = ("indexing", "indexed")
    scopes: list[str | None] = [*collections] if collections else [None]
    for scope in scopes:
        if any(info.status in searchable for info in workspace.documents(collection=scope)):
            return
    where = ""
    if collections:
        names = ", ".join(repr(name) for name in collections)
        where = f" in {'collection' if len(collections) == 1 else 'collections'} {names}"
    fail(f"no documents are indexed{where}; run `docchat ingest` first")


def _eval_answers(
    qa_file: Path,
    *,
    k: int | None,
    mode: EvalMode,
    models: list[str],
    collection: list[str] | None,
    json_output: bool,
) -> None:
    """``eval --answers``: ask every question, score the answers, print the report."""
    from docchat.evaluation.answers import chat_modes, evaluate_answers
    from docchat.evaluation.qa import load_qa
    from docchat.options import ChatOptions, SourceFilters

    known = chat_modes()
    if mode != "all" and mode not in known:
        fail(
            f"--mode {mode} is a search mode; with --answers use one of " + ", ".join(known),
            code=2,
        )
    with reported():
        questions = load_qa(qa_file)
    modes: tuple[ChatMode, ...] = known if mode == "all" else (mode,)
    options = None
    if k is not None or collection:
        options = ChatOptions(
            num_results=k,
            source_filters=SourceFilters(collections=collection) if collection else None,
        )
    with open_workspace() as workspace:
        # Before the progress display starts, so that the error is all that is printed.
        _require_indexed(workspace, collection)
        with progress_bars(transient=True) as progress:
            names = models or [workspace.settings.llm.default_model]
            warn_missing_vectors(workspace, ["hybrid"])
            task = progress.add_task(
                "answers", total=len(questions) * len(modes) * len(names), detail=""
            )

            def ask_within(
                question: str,
                *,
                session_id: str | None = None,
                mode: ChatMode | None = None,
                model: str | None = None,
            ) -> Answer:
                return workspace.ask(
                    question, session_id=session_id, mode=mode, model=model, options=options
                )

            def on_answer(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = evaluate_answers(
                ask_within,
                workspace.document_text,
                questions,
                modes=modes,
                models=names,
                progress=on_answer,
                embed=workspace.embedder().embed,
            )
    if json_output:
        typer.echo(report.model_dump_json())
        return
    console.print(
        f"{report.questions} questions ({report.answerable} answerable, "
        f"{report.unanswerable} unanswerable, {report.follow_ups} follow-ups), "
        f"{len(report.modes)} {'mode' if len(report.modes) == 1 else 'modes'} x "
        f"{len(report.models)} {'model' if len(report.models) == 1 else 'models'}"
    )
    print_table(_answer_table(report))
    console.print(
        "keywords: answers holding every expected keyword; abstained: unanswerable questions "
        "that abstained; false abst.: answerable ones that did; cit. prec.: references whose "
        "quote is the cited span, in an expected document; fragments: references whose span is "
        "not whole sentences of its passage; evid.@5: questions whose evidence is in one of the "
        "turn's first 5 passages. Baselines, from the same passages and never abstaining: top "
        "passage (the whole first passage) and top 3 sentences (the passages' sentences most "
        "similar to the question, by the app's embedder)."
    )
    if len(report.runs) > 1:
        console.print("[bold green]Bold green[/bold green]: the best run for that metric and type.")
    failed = sum(1 for d in report.details if d.error is not None)
    if failed:
        err_console.print(
            f"[yellow]warning:[/yellow] {failed} answers failed and count as wrong "
            "(--json shows each error)"
        )


@app.command("eval")
def eval_command(
    qa_file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="JSON Lines: one question a line with its expected sources and, for --answers, "
            "its expected answer keywords or unanswerable: true (see README).",
            show_default=False,
        ),
    ],
    answers: Annotated[
        bool,
        typer.Option(
            "--answers",
            help="Evaluate answers instead of retrieval: ask every question in each chat mode "
            "with each model; report keyword accuracy, correct and false abstention, citation "
            "precision and latency. Stores a session per question: use an evaluation database.",
        ),
    ] = False,
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            "-k",
            min=1,
            max=200,
            help="Passages retrieved per question: recall@k and MRR@k (default 10); with "
            "--answers the passages an answer draws on (default "
            "DOCCHAT_RETRIEVAL__NUM_RESULTS).",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        EvalMode,
        typer.Option(
            parser=chat_mode_parser("all", "hybrid", "fulltext", "dense"),
            metavar=chat_mode_metavar("all", "hybrid", "fulltext", "dense"),
            help="Search mode (hybrid, fulltext, dense) to evaluate, or all three side by side; "
            "with --answers a chat mode (basic, extensive, full_reading, deep_reflection) or all "
            "four.",
        ),
    ] = "all",
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="With --answers: a model to answer with, by name (repeatable; see `docchat "
            "models`). Default: DOCCHAT_LLM__DEFAULT_MODEL (extractive).",
            show_default=False,
        ),
    ] = None,
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", "-c", help="Search only this collection (repeatable)."),
    ] = None,
    rerank: Annotated[
        bool | None,
        typer.Option(
            "--rerank/--no-rerank",
            help="Retrieval: also run hybrid search reranked (hybrid+rerank). Default: when a "
            "reranker is configured (the offline one is, with the MiniLM embedder) and all modes "
            "are evaluated.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the report, each question's rank (or answer) included, as one JSON object.",
        ),
    ] = False,
) -> None:
    """Measure retrieval (recall@1/3/5/k, MRR@k, latency) or, with --answers, answers (keyword
    accuracy, abstention, citation precision, latency) on questions with known answers."""
    if answers:
        _eval_answers(
            qa_file,
            k=k,
            mode=mode,
            models=model or [],
            collection=collection,
            json_output=json_output,
        )
        return
    if model:
        fail("--model needs --answers: retrieval evaluation asks no model", code=2)
    from docchat.evaluation.qa import load_qa
    from docchat.evaluation.retrieval import RERANKED, SEARCH_MODES, EvalRun, evaluate
    from docchat.options import SourceFilters
    from docchat.retrieval.hybrid import SearchMode

    if mode != "all" and mode not in SEARCH_MODES:
        fail(f"--mode {mode} is a chat mode: add --answers to evaluate answers", code=2)
    with reported():
        questions = load_qa(qa_file)
    # Checked above: a search mode's name (the option takes chat modes' names too).
    modes: tuple[EvalRun, ...] = SEARCH_MODES if mode == "all" else (cast("SearchMode", mode),)
    filters = SourceFilters(collections=collection or [])
    k = 10 if k is None else k
    with open_workspace() as workspace:
        # Before the progress display starts, so that the error is all that is printed.
        _require_indexed(workspace, collection)
        with progress_bars(transient=True) as progress:
            has_reranker = workspace.has_reranker
            if rerank and not has_reranker:
                fail("--rerank: no reranker is configured (see DOCCHAT_RETRIEVAL__RERANK_URL)")
            if rerank or (rerank is None and mode == "all" and has_reranker):
                modes = (*modes, RERANKED)
            warn_missing_vectors(workspace, modes)
            task = progress.add_task("searches", total=len(questions) * len(modes), detail="")

            def search_within(
                query: str,
                *,
                k: int | None = None,
                mode: SearchMode = "hybrid",
                enable_reranking: bool = False,
            ) -> list[Hit]:
                return workspace.search(
                    query, k=k, mode=mode, filters=filters, enable_reranking=enable_reranking
                )

            def on_search(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = evaluate(search_within, questions, k=k, modes=modes, progress=on_search)
    if json_output:
        typer.echo(report.model_dump_json())
        return
    skipped = (
        f" ({report.skipped} unanswerable or follow-up questions not searched)"
        if report.skipped
        else ""
    )
    console.print(f"{report.questions} questions, top {report.k} passages per search{skipped}")
    print_table(_eval_table(report))
    if len(modes) > 1:
        console.print(
            "[bold green]Bold green[/bold green]: the best mode for that metric and type."
        )
