"""db upgrade | current: schema migrations."""

from __future__ import annotations

import typer

from rendercli.cli import context, output
from rendercli.cli.options import JSON_OPTION

app = typer.Typer(
    help="Database schema migrations.\n\nExample: rendercli db upgrade",
    no_args_is_help=True,
)


@app.command("upgrade")
def upgrade() -> None:
    """Apply all pending migrations to the configured database.

    Example: RENDERCLI_DATABASE_URL=postgresql+psycopg://u:p@db/rendercli rendercli db upgrade
    """
    from sqlalchemy.exc import OperationalError

    from rendercli.db.schema import HEAD_REVISION, upgrade
    from rendercli.db.session import display_url, get_engine
    from rendercli.errors import OperationFailed

    url = context.database_url()
    try:
        upgrade(get_engine(url))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise OperationFailed(
            f"cannot reach the database at {display_url(url)}: {reason}"
        ) from None
    output.say(f"Database {display_url(url)} is at revision {HEAD_REVISION} (latest).")


@app.command("current")
def current(json_output: bool = JSON_OPTION) -> None:
    """Show the schema revision of the configured database.

    Example: rendercli db current
    """
    from rendercli.db.schema import HEAD_REVISION, current_revision
    from rendercli.db.session import display_url, get_engine

    url = context.database_url()
    revision = current_revision(get_engine(url))
    info = {
        "database": display_url(url),
        "revision": revision,
        "latest": HEAD_REVISION,
        "up_to_date": revision == HEAD_REVISION,
    }
    if json_output:
        output.print_json(info)
    else:
        output.print_fields(list(info.items()))
