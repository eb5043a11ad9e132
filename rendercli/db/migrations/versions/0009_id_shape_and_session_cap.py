"""ids of rendercli's shape only; login sessions of at most 365 days (issue 19)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Both databases: every id column a client can write (and batch_id) must have the shape
of an id rendercli makes (rendercli.db.ids: a lowercase letter, then up to 31 lowercase
letters and digits). A raw-SQL client could otherwise insert a render job named
`../../victim/x`, which RQ refuses and which used to stop dispatch for every account.
A database that already holds such a row is not changed: the upgrade stops and names
the table, so an admin decides what to do with it (nothing is deleted here).

PostgreSQL: rendercli_login refuses more than 365 days (the CLI's RENDERCLI_TOKEN_DAYS
limit) instead of accepting up to 3650.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column) of every id a row is created with; rendercli.db.models declares the same.
ID_COLUMNS = (
    ("users", "id"),
    ("auth_tokens", "id"),
    ("projects", "id"),
    ("assets", "id"),
    ("asset_texts", "id"),
    ("render_jobs", "id"),
    ("render_jobs", "batch_id"),
    ("render_tasks", "id"),
    ("analytics_events", "id"),
)


def id_check(column: str, dialect: str) -> str:
    """The CHECK expression for an id column (NULL passes: batch_id is optional).

    PostgreSQL regex ranges and SQLite GLOB ranges are by code point, whatever the
    collation; the models (rendercli/db/models.py) use the same text."""
    if dialect == "postgresql":
        return f"{column} ~ '^[a-z][a-z0-9]{{0,31}}$'"
    return (f"{column} GLOB '[a-z]*' AND {column} NOT GLOB '*[^a-z0-9]*' "
            f"AND length({column}) <= 32")


def _name(table: str, column: str) -> str:
    return f"ck_{table}_{column}_shape"


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    for table, column in ID_COLUMNS:
        bad = bind.exec_driver_sql(
            f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL "
            f"AND NOT ({id_check(column, dialect)})").scalar()
        if bad:
            raise RuntimeError(
                f"{table} has {bad} row(s) whose {column} is not an id rendercli makes "
                f"(a lowercase letter, then up to 31 lowercase letters and digits): a "
                f"client inserted them by hand. Look at them as the owner, e.g. SELECT "
                f"{column} FROM {table} WHERE NOT ({id_check(column, dialect)}), remove "
                f"or fix them, then run `rendercli db upgrade` again")
    tables: dict[str, list[str]] = {}
    for table, column in ID_COLUMNS:
        tables.setdefault(table, []).append(column)
    for table, columns in tables.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.create_check_constraint(
                    op.f(_name(table, column)), id_check(column, dialect))
    if dialect == "postgresql":
        _replace_login(bind, 365)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _replace_login(bind, 3650)
    tables: dict[str, list[str]] = {}
    for table, column in ID_COLUMNS:
        tables.setdefault(table, []).append(column)
    for table, columns in tables.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(_name(table, column)), type_="check")


# As in 0002, except the session length: at most `max_days`, and more is refused (it was
# silently cut to 3650). NULL means the default, 30 days.
LOGIN = """
CREATE OR REPLACE FUNCTION {s}.rendercli_login(p_email text, p_proof text,
                                               p_session_name text, p_days integer)
RETURNS TABLE (token text, token_id varchar, expires_at timestamptz, user_id varchar,
               email varchar, user_created_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {s}, pg_temp
AS $fn$
DECLARE
    v_email text := {s}.rendercli_normalize_email(p_email);
    v_user {s}.users%ROWTYPE;
    v_days integer := coalesce(p_days, 30);
    v_expires timestamptz;
    v_issued record;
BEGIN
    IF v_days < 1 OR v_days > {max_days} THEN
        RAISE EXCEPTION 'a login session lasts from 1 to {max_days} days, not %', v_days
            USING ERRCODE = '22023';
    END IF;
    v_expires := now() + make_interval(days => v_days);
    SELECT * INTO v_user FROM {s}.users AS u WHERE u.email = v_email AND v_email <> '';
    IF NOT FOUND OR p_proof IS NULL OR length(p_proof) > 100
       OR {s}.rendercli_hash_token(p_proof) <> v_user.password_verifier THEN
        RETURN;
    END IF;
    SELECT * INTO v_issued FROM {s}.rendercli_issue_token(
        v_user.id, 'session', left(coalesce(nullif(btrim(p_session_name), ''), 'login'), 100),
        v_expires);
    PERFORM {s}.rendercli_record_event('user.logged_in', v_user.id, '{{}}');
    RETURN QUERY SELECT v_issued.token, v_issued.token_id, v_expires, v_user.id, v_user.email,
                        v_user.created_at;
END
$fn$
"""


def _replace_login(bind: sa.Connection, max_days: int) -> None:
    schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    # Straight to the driver: no parameters, so '%' in the body stays as is. CREATE OR
    # REPLACE keeps the function's owner and grants (EXECUTE stays revoked from PUBLIC).
    cursor = bind.connection.dbapi_connection.cursor()
    cursor.execute(LOGIN.format(s=schema, max_days=max_days))
