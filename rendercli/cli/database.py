"""db upgrade | current | roles: schema migrations and PostgreSQL roles."""

from __future__ import annotations

import os

import typer

from rendercli.cli import context, output
from rendercli.cli.options import JSON_OPTION, noun_app
from rendercli.db.access import set_bcrypt_cost
from rendercli.errors import InvalidInput, OperationFailed
from rendercli.services.passwords import MAX_PROOF_COST

app = noun_app("Database schema migrations.\n\nExample: rendercli db upgrade")


@app.command("upgrade")
def upgrade() -> None:
    """Apply all pending migrations to the configured database.

    Example: RENDERCLI_DATABASE_URL=postgresql+psycopg://u:p@db/rendercli rendercli db upgrade
    """
    from sqlalchemy.exc import OperationalError

    from rendercli.db.engines import display_url, get_engine
    from rendercli.db.schema import HEAD_REVISION, upgrade

    url = context.settings().database_url
    engine = get_engine(url)
    try:
        warnings = upgrade(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise OperationFailed(
            f"cannot reach the database at {display_url(url)}: {reason}"
        ) from None
    _record_bcrypt_cost(engine)
    for warning in warnings:
        output.note(warning)
    output.say(f"Database {display_url(url)} is at revision {HEAD_REVISION} (latest).")


def _record_bcrypt_cost(engine) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: an explicit RENDERCLI_BCRYPT_ROUNDS becomes the database's cost for new
    passwords (and for the fake salts of unknown emails); otherwise it stays as it is."""
    if engine.dialect.name != "postgresql" or not os.environ.get("RENDERCLI_BCRYPT_ROUNDS"):
        return
    rounds = context.settings().bcrypt_rounds
    if not 4 <= rounds <= MAX_PROOF_COST:
        from rendercli.errors import InvalidInput

        raise InvalidInput(f"RENDERCLI_BCRYPT_ROUNDS must be between 4 and {MAX_PROOF_COST}")
    with engine.begin() as conn:
        set_bcrypt_cost(conn, rounds)


@app.command("roles")
def roles(
    apply: bool = typer.Option(
        False, "--apply", help="Run the statements (needs a role with CREATEROLE)."
    ),
) -> None:
    """Print (or --apply) what an admin runs once on a PostgreSQL cluster: the
    rendercli_client and rendercli_worker group roles, and CONNECT on the database.

    Give each farm user or CI runner a login in rendercli_client and each render machine
    one in rendercli_worker, then run `rendercli db upgrade` as the schema owner.
    No password is printed or asked for: set login passwords with psql's \\password.

    Example: rendercli db roles | psql "$ADMIN_URL"
    """
    from rendercli.db.access import CLIENT_ROLE, WORKER_ROLE, role_statements
    from rendercli.db.engines import checked_url, get_engine

    url = context.settings().database_url
    parsed = checked_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise InvalidInput("roles exist only on PostgreSQL: set RENDERCLI_DATABASE_URL to one")
    statements = role_statements(parsed.database)
    if not apply:
        for statement in statements:
            output.say(statement + ";")
        output.say(
            f"-- then, for example: CREATE ROLE ci_runner LOGIN IN ROLE {CLIENT_ROLE}; "
            f"CREATE ROLE render_node LOGIN IN ROLE {WORKER_ROLE}; \\password ci_runner"
        )
        return
    from sqlalchemy.exc import DBAPIError

    try:
        with get_engine(url).begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise OperationFailed(f"could not create the roles: {reason}") from None
    output.say(f"Roles {CLIENT_ROLE} and {WORKER_ROLE} exist. Next: rendercli db upgrade")


@app.command("current")
def current(json_output: bool = JSON_OPTION) -> None:
    """Show the schema revision of the configured database.

    Example: rendercli db current
    """
    from rendercli.db.engines import display_url, get_engine
    from rendercli.db.schema import HEAD_REVISION, current_revision

    url = context.settings().database_url
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
