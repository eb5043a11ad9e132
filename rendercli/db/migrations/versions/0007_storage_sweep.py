"""storage keys in use: answers that fail closed, and a sweep only workers run (issue 19)

PostgreSQL only (SQLite has no functions or roles; nothing changes there).

- rendercli_storage_keys_in_use(text[]) (clients: "is the file my removal freed still
  used by anyone?") raised nothing and returned the empty set without a live token or
  with more than 10000 keys, which a caller took for "nothing is in use" and deleted
  every object. It now raises instead: no answer is ever mistaken for "unused".
- rendercli_storage_keys_referenced(text[]) is new: the same answer for the orphan
  sweep, for any keys, for the worker role alone (`rendercli db upgrade` grants it,
  rendercli/db/access.py). It needs no token: the sweep runs on workers, which have none.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PIN = "SET search_path = pg_catalog, {s}, pg_temp"
MAX_KEYS = 10000

# Raise (never return less) when the answer cannot be complete: 28000 for no live
# identity, 22023 for a key list that is missing or too long.
KEYS_IN_USE = """
CREATE OR REPLACE FUNCTION {s}.rendercli_storage_keys_in_use(p_keys text[])
RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER {pin}
AS $fn$
BEGIN
    IF {s}.rendercli_current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no live token: which stored objects are in use is not answered'
            USING ERRCODE = '28000';
    END IF;
    IF p_keys IS NULL OR cardinality(p_keys) > {max} THEN
        RAISE EXCEPTION 'between 0 and {max} storage keys per call'
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY SELECT DISTINCT a.storage_key::text FROM {s}.assets AS a
                 WHERE a.storage_key = ANY (p_keys);
END
$fn$
"""

KEYS_REFERENCED = """
CREATE FUNCTION {s}.rendercli_storage_keys_referenced(p_keys text[])
RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER {pin}
AS $fn$
BEGIN
    IF p_keys IS NULL OR cardinality(p_keys) > {max} THEN
        RAISE EXCEPTION 'between 0 and {max} storage keys per call'
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY SELECT DISTINCT a.storage_key::text FROM {s}.assets AS a
                 WHERE a.storage_key = ANY (p_keys);
END
$fn$
"""

# What 0002 made (for downgrade).
OLD_KEYS_IN_USE = """
CREATE OR REPLACE FUNCTION {s}.rendercli_storage_keys_in_use(p_keys text[])
RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER {pin}
AS $fn$
SELECT DISTINCT a.storage_key::text FROM {s}.assets AS a
WHERE {s}.rendercli_current_user_id() IS NOT NULL
  AND cardinality(p_keys) <= 10000
  AND a.storage_key = ANY (p_keys)
$fn$
"""


def _run(statements: list[str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    # Straight to the driver: no parameters, so '%' in function bodies stays as is.
    cursor = bind.connection.dbapi_connection.cursor()
    for sql in statements:
        cursor.execute(sql.format(s=schema, pin=PIN.format(s=schema), max=MAX_KEYS))


def upgrade() -> None:
    # Replaced in place: the client role keeps its EXECUTE grant.
    _run([
        KEYS_IN_USE,
        KEYS_REFERENCED,
        "REVOKE ALL ON FUNCTION {s}.rendercli_storage_keys_in_use(text[]) FROM PUBLIC",
        "REVOKE ALL ON FUNCTION {s}.rendercli_storage_keys_referenced(text[]) FROM PUBLIC",
    ])


def downgrade() -> None:
    _run([
        "DROP FUNCTION {s}.rendercli_storage_keys_referenced(text[])",
        OLD_KEYS_IN_USE,
    ])
