"""Shell completion of values: fixed choices by option name, and the user's own
projects, assets and jobs (from the database) by metavar.

cli/parameters.py routes every parameter Typer has no completion for here, so a
new command gets this by naming its parameters PROJECT / ASSET / JOB or --preset etc.
Anything that goes wrong (not logged in, database down) completes nothing: a shell
must never show an error in the middle of a command line.
"""

from __future__ import annotations

from typing import Any

from rendercli.cli import context
from rendercli.render.presets import FORMATS, PRESETS, QUALITIES
from rendercli.render.timeline import FITS, MOTIONS, PLACEMENTS, TEXT_SIZES, TRANSITIONS
from rendercli.services.completion import candidates


def _choices() -> dict[str, tuple[str, ...]]:
    return {
        "--preset": tuple(PRESETS),
        "--format": FORMATS,
        "--quality": QUALITIES,
        "--status": JOB_STATUSES,  # tests check it is db.models.JOB_STATUSES
        "--transition": TRANSITIONS,
        "--motion": (*MOTIONS, "none"),
        "--fit": (*FITS, "contain-blur", "default"),
        "--placement": PLACEMENTS,
        "--size": TEXT_SIZES,
    }


JOB_STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
KINDS = {"PROJECT": "project", "ASSET": "asset", "ITEM": "asset", "JOB": "job"}


def complete(param: Any, incomplete: str) -> list[tuple[str, str]] | None:
    """(value, help) pairs for `param`, or None to let Typer complete it."""
    if param.param_type_name == "option":
        for opt in param.opts:
            choices = _choices().get(opt)
            if choices is not None:
                return [(c, "") for c in choices if c.startswith(incomplete)]
    kind = KINDS.get(str(param.metavar or ""))
    if kind is None:
        return None
    try:
        return _from_database(kind, incomplete)
    except Exception:
        return []


def _from_database(kind: str, prefix: str) -> list[tuple[str, str]]:

    user = context.require_user()
    return candidates(context.uow(), user.id, kind, prefix)
