"""Commands on accounts: ``users create|list|disable|enable|reset-password|token``.

They work on the database directly, whatever ``auth.mode`` is, so the first admin can be made
before accounts are turned on.  Passwords are asked for without echo (twice), or read from the
first line of stdin with ``--password-stdin`` for scripts; never taken as an argument, where
they would land in the shell history and the process list.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from docchat.cli.core import JsonOption, console, err_console, fail, open_workspace, users_app

UserArgument = Annotated[str, typer.Argument(help="The user name (stored in lower case).")]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from stdin's first line."),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("no password on stdin")
        return line.rstrip("\r\n")
    first: str = typer.prompt("Password", hide_input=True)
    second: str = typer.prompt("Repeat it", hide_input=True)
    if first != second:
        fail("the two passwords differ")
    return first


def _counted(count: int, plural: str) -> str:
    """ "1 collection", "2 collections": the kinds are named in the plural."""
    return f"{count} {plural[:-1] if count == 1 else plural}"


@users_app.command("create")
def users_create(
    username: UserArgument,
    admin: Annotated[bool, typer.Option("--admin", help="May manage users.")] = False,
    display_name: Annotated[str, typer.Option("--name", help="The name shown in the app.")] = "",
    adopt_existing: Annotated[
        bool,
        typer.Option(
            "--adopt-existing",
            help="Give this user every chat, document and task recorded without an owner "
            "(a data dir used before accounts were on).",
        ),
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a local user who signs in with a password."""
    with open_workspace() as workspace:
        password = workspace.accounts.check_password_rules(_password(password_stdin))
        user = workspace.accounts.create_user(
            username, password, display_name=display_name, admin=admin
        )
        console.print(
            f"Created {'admin' if admin else 'user'} [bold]{escape(user.username)}[/bold]."
        )
        if adopt_existing:
            counts = workspace.accounts.adopt_existing(user.username)
            console.print(
                "Adopted: "
                + ", ".join(_counted(count, kind) for kind, count in counts.items())
                + "."
            )
    if workspace.settings.auth.mode == "none":
        err_console.print(
            "Accounts are off: start the server with DOCCHAT_AUTH__MODE=accounts to require "
            "sign-in."
        )


@users_app.command("list")
def users_list(json_output: JsonOption = False) -> None:
    """List the users with their role, state and counts of chats and documents."""
    with open_workspace() as workspace:
        usage = workspace.accounts.usage()
    if json_output:
        for item in usage:
            typer.echo(json.dumps(item.model_dump(mode="json"), ensure_ascii=False))
        return
    if not usage:
        err_console.print("No users.")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("user", "role", "state", "chats", "messages", "documents", "last login"):
        table.add_column(column, justify="right" if column in ("chats", "messages") else "left")
    for item in usage:
        user = item.user
        table.add_row(
            escape(user.username),
            "admin" if user.is_admin else "user",
            "disabled" if user.disabled else "active",
            str(item.sessions),
            str(item.messages),
            str(item.documents),
            user.last_login_at.astimezone().strftime("%Y-%m-%d %H:%M")
            if user.last_login_at
            else "never",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(username: UserArgument) -> None:
    """Disable a user: their logins end and their API tokens stop working at once."""
    with open_workspace() as workspace:
        user = workspace.accounts.set_disabled(username, True)
    console.print(f"Disabled [bold]{escape(user.username)}[/bold].")


@users_app.command("enable")
def users_enable(username: UserArgument) -> None:
    """Enable a disabled user again (their unrevoked API tokens work again)."""
    with open_workspace() as workspace:
        user = workspace.accounts.set_disabled(username, False)
    console.print(f"Enabled [bold]{escape(user.username)}[/bold].")


@users_app.command("reset-password")
def users_reset_password(username: UserArgument, password_stdin: PasswordStdin = False) -> None:
    """Give a user a new password; their browser logins end."""
    with open_workspace() as workspace:
        workspace.accounts.user(username)  # an unknown name fails before the prompt
        user = workspace.accounts.set_password(username, _password(password_stdin))
    console.print(f"New password set for [bold]{escape(user.username)}[/bold].")


@users_app.command("token")
def users_token(
    username: UserArgument,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    expires_in_days: Annotated[
        float | None, typer.Option("--days", min=0.001, help="Expire after this many days.")
    ] = None,
) -> None:
    """Create an API token for a user and print it (shown this once)."""
    with open_workspace() as workspace:
        user = workspace.accounts.user(username)
        new = workspace.accounts.create_token(user.id, name, expires_in_days=expires_in_days)
    err_console.print(f"API token {escape(new.info.name)!r} for {escape(user.username)}:")
    typer.echo(new.token)
