"""The caller's identity inside PostgreSQL, and the questions only it may answer.

Row-level security (rendercli/db/access.py) compares row owners with the user of the
token in the transaction-local setting `rendercli.token`, which every transaction of a
unit of work sets first (rendercli.db.rows.PgRows; the token travels in the unit of
work). Which stored objects are still used is asked here, for every account at once,
through definer functions. SQLite ignores the token.
"""

from __future__ import annotations

from typing import Any

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
