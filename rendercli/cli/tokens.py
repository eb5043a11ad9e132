"""token create | list | revoke: long-lived tokens for CI (RENDERCLI_TOKEN)."""

from __future__ import annotations

import typer

from rendercli.cli import context, output
from rendercli.cli.options import JSON_OPTION, noun_app
from rendercli.errors import InvalidInput
from rendercli.services import accounts

app = noun_app(
    "Create, list and revoke API tokens for CI.\n\nExample: rendercli token create --name ci"
)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", "-n", help="A label, e.g. the CI system."),
    expires_in: int | None = typer.Option(
        None, "--expires-in", metavar="DAYS", min=1, max=3650,
        help="Days until it expires (default 90)."
    ),
    never_expires: bool = typer.Option(False, "--never-expires", help="No expiry date."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a token and print it once. Use it as RENDERCLI_TOKEN.

    Example: rendercli token create --name ci --expires-in 90
    """
    if never_expires and expires_in is not None:
        raise InvalidInput("--expires-in and --never-expires contradict each other")
    user = context.require_user()
    days = None if never_expires else (expires_in if expires_in is not None else 90)
    issued = accounts.create_api_token(context.uow(), user.id, name, days)

    if json_output:
        output.print_json(
            {
                "id": issued.id,
                "name": issued.name,
                "expires_at": issued.expires_at,
                "token": issued.token,
            }
        )
        return
    output.say(issued.token)
    output.note(
        "Copy this token now: it is not shown again. Use it as RENDERCLI_TOKEN; "
        f"revoke it with `rendercli token revoke {issued.id}`."
    )


@app.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include expired and revoked tokens."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List your login sessions and API tokens (never the secrets).

    Example: rendercli token list --all
    """
    user = context.require_user()
    tokens = accounts.list_tokens(context.uow(), user.id, include_inactive=all_)
    if json_output:
        output.print_json(tokens)
        return
    output.print_table(
        ["ID", "NAME", "KIND", "CREATED", "EXPIRES", "LAST USED", "REVOKED"],
        [
            (
                t.id,
                t.name,
                t.kind,
                output.Moment(t.created_at),
                output.Moment(t.expires_at) if t.expires_at else "never",
                output.Moment(t.last_used_at),
                output.Moment(t.revoked_at),
            )
            for t in tokens
        ],
        empty="No tokens.",
        optional=["CREATED", "LAST USED"],
    )


@app.command("revoke")
def revoke(
    token_id: str = typer.Argument(
        ..., metavar="TOKEN_ID", help="The token's id (see `rendercli token list`)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Revoke a token or a login session by id.

    Example: rendercli token revoke k2x9c0c0p1q8r7s6t5u4v3w2
    """
    user = context.require_user()
    token = accounts.revoke_token(context.uow(), user.id, token_id)
    output.result(token, json_output, f"Revoked token {token.id} ({token.name}).")
