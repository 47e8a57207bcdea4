"""Commands that answer from the documents: ask, chat, and the models that can answer."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from docchat.cli.core import (
    ChatMode,
    JsonOption,
    app,
    chat_mode_metavar,
    chat_mode_parser,
    console,
    err_console,
    fail,
    open_workspace,
    print_error,
    print_table,
)
from docchat.cli.turns import report_ending, run_turn, show_turn
from docchat.errors import DocchatError

if TYPE_CHECKING:
    from docchat.options import ChatOptions

SessionOption = Annotated[
    str | None,
    typer.Option(
        "--session",
        "-s",
        help="Ask in this chat session (see `docchat sessions list`). Default: a new session.",
        show_default=False,
    ),
]
ChatModeOption = Annotated[
    ChatMode | None,
    typer.Option(
        "--mode",
        "-m",
        parser=chat_mode_parser(),
        metavar=chat_mode_metavar(),
        help="basic: search, then answer; extensive: search with query variants too; "
        "full_reading: read every matching document; deep_reflection: critique the answer and "
        "search again. Default: the session's mode, else DOCCHAT_CHAT__MODE (basic).",
        show_default=False,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="The model that answers, by name (see `docchat models`). Default: the session's "
        "model, else DOCCHAT_LLM__DEFAULT_MODEL (extractive).",
        show_default=False,
    ),
]
AnswerCollectionOption = Annotated[
    list[str] | None,
    typer.Option("--collection", "-c", help="Answer only from this collection (repeatable)."),
]
AnswerDocumentOption = Annotated[
    list[str] | None,
    typer.Option("--document", "-d", help="Answer only from this document id (repeatable)."),
]
AnswerGlobOption = Annotated[
    list[str] | None,
    typer.Option(
        "--glob",
        "-g",
        help="Answer only from files whose name matches this shell pattern, e.g. '*.pdf' "
        "(repeatable).",
    ),
]
AnswerKeywordOption = Annotated[
    list[str] | None,
    typer.Option("--keyword", help="A term forced into the full-text search (repeatable)."),
]
NumResultsOption = Annotated[
    int | None,
    typer.Option(
        "--num-results",
        "-k",
        min=1,
        max=200,
        help="Passages retrieved. Default: the session's, else DOCCHAT_RETRIEVAL__NUM_RESULTS.",
        show_default=False,
    ),
]
LanguageOption = Annotated[
    str | None,
    typer.Option(
        "--language",
        help="Answer in this language, e.g. 'Dutch' or 'fr' (models that write; the extractive "
        "answerer quotes).",
        show_default=False,
    ),
]
InstructionsOption = Annotated[
    str | None,
    typer.Option(
        "--instructions",
        help="Extra instructions for the model, e.g. 'Answer in one sentence.'",
        show_default=False,
    ),
]

# ChatOptions' fields as the command line spells them, for error messages.
_OPTION_FLAGS = {
    "num_results": "--num-results",
    "manual_keywords": "--keyword",
    "custom_instructions": "--instructions",
    "output_language": "--language",
    "collections": "--collection",
    "documents": "--document",
    "file_globs": "--glob",
}


def _chat_options(
    *,
    collection: list[str] | None,
    document: list[str] | None,
    glob: list[str] | None,
    keyword: list[str] | None,
    num_results: int | None,
    language: str | None,
    instructions: str | None,
) -> ChatOptions | None:
    """The answer options given on the command line; None when none was, so that the session's
    settings (or the configured defaults) apply.  A value out of range is a usage error."""
    from pydantic import ValidationError

    from docchat.options import ChatOptions, SourceFilters

    try:
        values: dict[str, Any] = {}
        if collection or document or glob:
            values["source_filters"] = SourceFilters(
                collections=collection or [], documents=document or [], file_globs=glob or []
            )
        if keyword:
            values["manual_keywords"] = keyword
        if num_results is not None:
            values["num_results"] = num_results
        if language is not None:
            values["output_language"] = language
        if instructions is not None:
            values["custom_instructions"] = instructions
        return ChatOptions(**values) if values else None
    except ValidationError as exc:
        problems = "; ".join(
            f"{next((_OPTION_FLAGS[p] for p in e['loc'] if p in _OPTION_FLAGS), 'option')}: "
            f"{e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        fail(f"invalid option: {problems}", code=2)


@app.command()
def ask(
    question: Annotated[
        str, typer.Argument(help="Your question, in your own words.", show_default=False)
    ],
    session: SessionOption = None,
    mode: ChatModeOption = None,
    model: ModelOption = None,
    collection: AnswerCollectionOption = None,
    document: AnswerDocumentOption = None,
    glob: AnswerGlobOption = None,
    keyword: AnswerKeywordOption = None,
    num_results: NumResultsOption = None,
    language: LanguageOption = None,
    instructions: InstructionsOption = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the stored answer as one JSON object (answer, references, metadata, "
            "session_id, user_message_id, assistant_message_id) instead of streaming it.",
        ),
    ] = False,
) -> None:
    """Answer QUESTION from your documents: the answer as it is written, then its references.

    Both messages are stored in the session (a new one unless --session is given); the last line
    names it, for a follow-up with --session.  Long modes print their progress to stderr.

    Ctrl-C stops the answer and stores what was written (exit status 130).  A model failure
    prints the error and exits with 1; the question and the failed turn stay stored.
    """
    from docchat.chat.types import Question

    asked = Question(
        text=question,
        session_id=session,
        mode=mode,
        model=model,
        options=_chat_options(
            collection=collection,
            document=document,
            glob=glob,
            keyword=keyword,
            num_results=num_results,
            language=language,
            instructions=instructions,
        ),
    )
    with open_workspace() as workspace:
        outcome = run_turn(workspace, asked, stream=not json_output)
    if json_output:
        if outcome.answer is not None:
            typer.echo(json.dumps(outcome.answer.model_dump(mode="json"), ensure_ascii=False))
        report_ending(outcome)
    else:
        show_turn(outcome)
    if outcome.error is not None:
        raise typer.Exit(1)
    if outcome.stopped:
        raise typer.Exit(130)


CHAT_HELP = "Ask a question and press Enter. /new starts a new session; /exit or Ctrl-D ends."


@app.command()
def chat(
    session: SessionOption = None,
    mode: ChatModeOption = None,
    model: ModelOption = None,
    collection: AnswerCollectionOption = None,
    document: AnswerDocumentOption = None,
    glob: AnswerGlobOption = None,
    keyword: AnswerKeywordOption = None,
    num_results: NumResultsOption = None,
    language: LanguageOption = None,
    instructions: InstructionsOption = None,
) -> None:
    """Chat with your documents: question after question in one session, answers streamed.

    The session is created with the first question unless --session is given.  Type /new to
    start a new session, /exit (or Ctrl-D) to end.  Ctrl-C stops an answer, keeping what was
    written; at the prompt it ends the chat (exit status 130).
    """
    from rich.prompt import Prompt

    from docchat.chat.types import Question

    options = _chat_options(
        collection=collection,
        document=document,
        glob=glob,
        keyword=keyword,
        num_results=num_results,
        language=language,
        instructions=instructions,
    )
    with open_workspace() as workspace:
        # Checked before the first question rather than failing every one of them.
        if model is not None:
            names = [m.name for m in workspace.models()]
            if model not in names:
                fail(f"model {model!r} is not one of: {', '.join(names)}")
        session_id = session
        if session_id is not None:
            current = workspace.session(session_id)
            err_console.print(
                f"Session [bold]{escape(current.title)}[/bold] ({escape(current.id)}), "
                f"{current.message_count} messages so far."
            )
        err_console.print(f"[dim]{CHAT_HELP}[/dim]")
        while True:
            try:
                line = Prompt.ask("[bold green]you[/bold green]", console=console)
            except EOFError:
                console.print()
                break
            except KeyboardInterrupt:
                console.print()
                raise typer.Exit(130) from None
            if not sys.stdin.isatty():  # piped questions: show them, as a terminal would
                console.print(line, markup=False, highlight=False)
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text == "/new":
                session_id = None
                err_console.print("[dim]A new session starts with your next question.[/dim]")
                continue
            try:
                asked = Question(
                    text=text, session_id=session_id, mode=mode, model=model, options=options
                )
                outcome = run_turn(workspace, asked, stream=True)
            except DocchatError as exc:  # the question was refused (too long, say): ask again
                print_error(exc.message)
                continue
            show_turn(outcome)
            if outcome.answer is not None:
                session_id = outcome.answer.session_id
            console.print()


@app.command()
def models(json_output: JsonOption = False) -> None:
    """List the models that can answer: name, provider, model id, context window, availability."""
    with open_workspace() as workspace:
        infos = workspace.models()
    if json_output:
        for info in infos:
            typer.echo(json.dumps(asdict(info), ensure_ascii=False))
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("provider")
    table.add_column("model", overflow="fold")
    table.add_column("context", justify="right")
    table.add_column("available", overflow="fold")
    table.add_column("default")
    for info in infos:
        available = "[green]yes[/green]"
        if not info.available:
            available = "[red]no[/red]" + (
                f": {escape(info.unavailable_reason)}" if info.unavailable_reason else ""
            )
        table.add_row(
            escape(info.name),
            info.provider,
            escape(info.model),
            f"{info.context_window:,}" if info.context_window is not None else "",
            available,
            "yes" if info.default else "",
        )
    print_table(table)
