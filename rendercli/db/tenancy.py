"""The caller's identity inside PostgreSQL: every transaction carries the caller's token.

Row-level security (rendercli/db/access.py) compares row owners with the user of the
token in the transaction-local setting `rendercli.token`. This module holds the token the
process acts with (set once the CLI has found it, see `use_token`) and sets it at the
start of every session transaction on PostgreSQL. SQLite ignores all of this.
"""

from __future__ import annotations

from typing import Any

# Process-wide, not a context variable: a render's heartbeat thread acts for the same
# caller as the command that started it.
_token: str | None = None


def use_token(token: str | None) -> None:
    """Act as the owner of `token` in every later transaction of this process."""
    global _token
    _token = token


def current_token() -> str | None:
    return _token


def _after_begin(session: Any, transaction: Any, connection: Any) -> None:
    token = session.info.get("rendercli_token", _token)
    if token is not None and connection.dialect.name == "postgresql":
        # is_local=true: the setting ends with the transaction, so a pooled connection
        # never carries one caller's token into another's transaction.
        connection.exec_driver_sql(
            "SELECT set_config('rendercli.token', %(t)s, true)", {"t": token}
        )


def install(factory: Any) -> None:
    """Hook a new session factory so its transactions carry the token (call once)."""
    from sqlalchemy import event

    event.listen(factory, "after_begin", _after_begin)


# Keys per database call: the definer functions refuse (raise on) more than 10000.
KEYS_PER_CALL = 5000


# `rows`: a rendercli.db.rows.Rows (not imported: rows imports this module for the token).
def storage_keys_in_use(rows: Any, keys: list[str]) -> set[str]:
    """Which of these stored objects any asset, of any account, still uses, asked with
    the caller's token (a client freeing its own objects).

    On PostgreSQL row security hides other accounts' assets, so a plain query would
    call a shared object unused and delete it under another account's asset; a definer
    function answers for every account instead (only for keys the caller names). It
    raises, never answers "none", without a live token: callers delete nothing then.
    """
    return _keys(rows, keys, "rendercli_storage_keys_in_use")


def storage_keys_referenced(rows: Any, keys: list[str]) -> set[str]:
    """Which of these stored objects any asset uses, for the orphan sweep. On PostgreSQL
    only the worker role may ask (anyone else gets an error, so sweeps nothing)."""
    return _keys(rows, keys, "rendercli_storage_keys_referenced")


def _keys(rows: Any, keys: list[str], function: str) -> set[str]:
    asked = list(keys)
    used: set[str] = set()
    size = KEYS_PER_CALL if rows.postgres else 500  # old SQLite builds bind at most 999 values
    for start in range(0, len(asked), size):
        chunk = asked[start:start + size]
        if rows.postgres:
            found = rows.all(f"SELECT * FROM {function}(CAST(:keys AS text[])) AS k(key)",
                             keys=chunk)
        else:
            names = {f"k{i}": key for i, key in enumerate(chunk)}
            found = rows.all("SELECT storage_key AS key FROM assets WHERE storage_key IN "
                             f"({', '.join(':' + n for n in names)})", **names)
        used.update(row["key"] for row in found)
    return used & set(asked)
