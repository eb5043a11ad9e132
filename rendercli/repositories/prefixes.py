"""Ids as people type them: a unique prefix of an id stands for the id, as git takes a
short commit hash. The one home of that rule; tables on a narrow terminal show ids
shortened this way (`cli.output.unique_prefix_length`).

Only the caller's own objects are searched, so another user's ids never make a prefix
ambiguous and are never revealed.
"""

from __future__ import annotations

from rendercli.db.ids import is_valid_id
from rendercli.db.rows import Rows
from rendercli.errors import InvalidInput

MIN_PREFIX = 4  # shorter input is never taken as a prefix (git's minimum too)
FULL_ID = 24  # what new_id() makes: input this long is an id, not a prefix
SHOWN = 5  # candidates named when a prefix is ambiguous

_OWNED_ROOTS = "SELECT id FROM projects WHERE owner_id = :user_id"
# The caller's ids of each kind: a query whose first column is `id` (aliased), and
# the column the prefix is matched against.
_OWNED_IDS: dict[str, tuple[str, str]] = {
    "project": ("SELECT id FROM projects WHERE owner_id = :user_id", "id"),
    "asset": (f"SELECT a.id FROM assets AS a WHERE a.project_id IN ({_OWNED_ROOTS})",
              "a.id"),
    "text": ("SELECT t.id FROM asset_texts AS t JOIN assets AS a ON a.id = t.asset_id "
             f"WHERE a.project_id IN ({_OWNED_ROOTS})", "t.id"),
    "job": ("SELECT id FROM render_jobs WHERE owner_id = :user_id", "id"),
    "token": ("SELECT id FROM auth_tokens WHERE user_id = :user_id", "id"),
}


def full_id(rows: Rows, what: str, user_id: str, ref: str) -> str:
    """The id of the user's `what` (project, asset, text, job, token) that starts with
    `ref`, when exactly one does; `ref` unchanged when it is a whole id or no id of
    the user's starts with it (the caller's own lookup then says "not found").
    InvalidInput, naming the candidates, when several do."""
    if not (MIN_PREFIX <= len(ref) < FULL_ID) or not is_valid_id(ref):
        return ref
    sql, column = _OWNED_IDS[what]
    # `ref` is [a-z0-9] only (is_valid_id), so it holds no LIKE wildcard.
    found = [str(row["id"]) for row in rows.all(
        f"{sql} AND {column} LIKE :pattern ORDER BY {column} LIMIT {SHOWN + 1}",
        user_id=user_id, pattern=ref + "%")]
    if not found or ref in found:
        return ref
    if len(found) == 1:
        return found[0]
    more = ", …" if len(found) > SHOWN else ""
    raise InvalidInput(f"{what} id {ref} is ambiguous: it starts "
                       f"{', '.join(found[:SHOWN])}{more}; type more of the id")
