"""apply: make a project match a spec file (docs/spec.md)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rendercli.cli import context, output
from rendercli.cli.options import JSON_OPTION, SET_OPTION
from rendercli.cli.upload_bar import upload_bar
from rendercli.errors import ExitStatus
from rendercli.specfile.problems import SpecInvalid
from rendercli.specfile.template import parse_assignments

if TYPE_CHECKING:
    from rendercli.services.specs.apply import Applied
    from rendercli.services.specs.plan import Op, Plan

MAX_PRINTED = 200  # problems printed; the rest are counted

SPEC_ARG = typer.Argument(..., metavar="FILE", help="A spec file (.yaml, .yml, .json).")
ALLOW_OUTSIDE_OPTION = typer.Option(
    False, "--allow-outside",
    help="Allow media paths outside the spec file's folder (through .. or a symlink).")
PROJECT_OPTION = typer.Option(
    None, "--project", "-p", metavar="NAME",
    help="The project to apply to. Default: the spec's project:, else the file's name.")


@contextmanager
def spec_problems() -> Iterator[None]:
    """Print every problem of an invalid spec (FILE:LINE:COL: message), exit 2."""
    try:
        yield
    except SpecInvalid as exc:
        for problem in exc.problems[:MAX_PRINTED]:
            sys.stderr.write(output.visible(str(problem)) + "\n")
        more = len(exc.problems) - MAX_PRINTED
        if more > 0:
            sys.stderr.write(f"... and {more} more\n")
        count = len(exc.problems)
        sys.stderr.write(f"{count} problem{'s' * (count != 1)} found; nothing was changed\n")
        raise typer.Exit(ExitStatus.INVALID_INPUT) from None


def set_values(items: list[str] | None) -> dict[str, str]:
    """``--set FIELD=VALUE`` options as placeholder values (exit 2 for a bad shape)."""
    return parse_assignments(items)


def plan_note(applied: Applied) -> None:
    """One line on stderr about what an apply did (for commands that go on to render)."""
    plan = applied.plan
    if not applied.applied:
        output.note(f"no changes: project {plan.project} matches the spec")
        return
    counts = ", ".join(f"{n} {op}" for op, n in plan.counts().items() if n)
    output.note(f"applied to project {plan.project}: {counts or 'created'}")


def apply(
    file: Path = SPEC_ARG,
    project: str | None = PROJECT_OPTION,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan and change nothing."),
    allow_outside: bool = ALLOW_OUTSIDE_OPTION,
    set_: list[str] | None = SET_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Make a project match a spec file: create it if missing, then add, update, move
    and remove its items.

    Media is stored by content hash, so files already stored are not copied again, and
    files whose size and mtime are unchanged are not hashed again. All or nothing: a
    bad file in the spec leaves the project as it was. When nothing differs, nothing is
    written. --dry-run prints the plan; --json prints it as data. --set FIELD=VALUE fills
    the spec's placeholder FIELD (a placeholder left without a value: exit 2).

    Example: rendercli apply video.yaml --set name=Ana --dry-run
    """
    values = set_values(set_)
    user = context.require_user()
    with spec_problems():
        from rendercli.services.specs.apply import apply_file

        _, result = apply_file(context.uow(), user.id, file, project=project,
                               allow_outside=allow_outside, values=values, dry_run=dry_run,
                               uploads=upload_bar(json_output=json_output))
    if json_output:
        output.print_json({**result.plan.to_json(), "project_id": result.project_id,
                           "dry_run": dry_run, "applied": result.applied,
                           "stored_bytes": result.staged_bytes,
                           "uploaded_bytes": result.uploaded_bytes})
        return
    print_plan(result.plan, dry_run=dry_run, applied=result.applied)


SIGNS = {"add": "+", "update": "~", "move": ">", "remove": "-"}


def print_plan(plan: Plan, *, dry_run: bool, applied: bool) -> None:
    """The plan for people: one line per operation, then what happened."""
    name = plan.project
    if not plan.changed:
        output.say(f"no changes: project {name} matches the spec")
        return
    if plan.create:
        output.say(f"+ create project {name}")
    for op in plan.ops:
        output.say(_op_line(op))
    counts = plan.counts()
    parts = [f"{n} {word}" for word, n in (("added", counts["add"]),
                                           ("updated", counts["update"]),
                                           ("moved", counts["move"]),
                                           ("removed", counts["remove"])) if n]
    summary = ", ".join(parts) or "created"
    if dry_run:
        output.say(f"dry run: would apply to project {name}: {summary}; nothing changed")
    elif applied:
        output.say(f"applied to project {name}: {summary}")
    else:
        output.say(f"no changes: project {name} matches the spec")


def _op_line(op: Op) -> str:
    where = op.list if op.position is None else f"{op.list} {op.position}"
    line = f"{SIGNS[op.op]} {op.op:<6} {where:<12} {op.kind:<5} {op.name}"
    if op.op == "move":
        line += f" (from {op.from_position})"
    if op.changes:
        line += ": " + ", ".join(f"{k} {_value(c.old)} -> {_value(c.new)}"
                                 for k, c in op.changes.items())
    return line


def _value(value: object) -> str:
    if isinstance(value, list):
        return f"[{len(value)} text{'s' * (len(value) != 1)}]"
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:39] + "\u2026")
    return "-" if value is None else repr(value) if isinstance(value, str) else str(value)
