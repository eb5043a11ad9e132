"""project create | list | show | rename | fit | delete."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rendercli.cli import context, output, output_file
from rendercli.cli.options import (
    FORCE_OPTION,
    JSON_OPTION,
    OPEN_OPTION,
    PRESET_OPTION,
    PROJECT_ARG,
    noun_app,
    output_option,
)
from rendercli.errors import InvalidInput
from rendercli.services import projects

if TYPE_CHECKING:
    from rendercli.services.projects import ProjectView

app = noun_app("Create and manage projects.\n\nExample: rendercli project create holiday")


def _show(project: ProjectView, json_output: bool) -> None:
    if json_output:
        output.print_json(project)
        return
    output.print_fields(
        [
            ("id", project.id),
            ("name", project.name),
            ("assets", project.asset_count),
            ("renders", project.render_count),
            ("fit", project.fit),
            ("created", project.created_at),
            ("updated", project.updated_at),
        ]
    )


FIT_HELP = ("How clips and stills of another shape than the frame fill it, unless an "
            "item says (asset update --fit): contain (black bars), cover (fill and crop), "
            "blur (bars filled with a blurred copy; contain-blur is the same).")


@app.command("create")
def create(
    name: str = typer.Argument(..., metavar="NAME", help="A name, unique among your projects."),
    fit: str | None = typer.Option(None, "--fit", metavar="FIT", help=FIT_HELP),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a project.

    Example: rendercli project create "summer trip"

    Example: rendercli project create reel --fit blur
    """
    user = context.require_user()
    project = projects.create(context.uow(), user.id, name, fit)
    output.result(project, json_output, f"Created project {project.name} ({project.id}).")


@app.command("list")
def list_(json_output: bool = JSON_OPTION) -> None:
    """List your projects.

    Example: rendercli project list --json
    """
    user = context.require_user()
    rows = projects.list_projects(context.uow(), user.id)
    if json_output:
        output.print_json(rows)
        return
    output.print_table(
        ["ID", "NAME", "ASSETS", "RENDERS", "UPDATED"],
        [(p.id, p.name, p.asset_count, p.render_count, output.Moment(p.updated_at))
         for p in rows],
        empty="No projects yet: rendercli project create NAME",
    )


@app.command("show")
def show(project: str = PROJECT_ARG, json_output: bool = JSON_OPTION) -> None:
    """Show one project.

    Example: rendercli project show "summer trip"
    """
    user = context.require_user()
    _show(projects.get(context.uow(), user.id, project), json_output)


@app.command("rename")
def rename(
    project: str = PROJECT_ARG,
    new_name: str = typer.Argument(..., metavar="NEW_NAME", help="The new name."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Rename a project.

    Example: rendercli project rename "summer trip" "summer 2026"
    """
    user = context.require_user()
    renamed = projects.rename(context.uow(), user.id, project, new_name)
    output.result(renamed, json_output, f"Renamed to {renamed.name}.")


@app.command("fit")
def fit(
    project: str = PROJECT_ARG,
    value: str = typer.Argument(..., metavar="FIT", help=FIT_HELP),
    json_output: bool = JSON_OPTION,
) -> None:
    """Set the project's default fit: how its clips and stills meet the frame.

    contain shows all of the picture (black bars), cover fills the frame and crops,
    blur fills the bars with a blurred copy (the vertical-video look). An item's own
    --fit wins; a still with --motion always fills the frame.

    Example: rendercli project fit reel cover
    """
    user = context.require_user()
    changed = projects.set_fit(context.uow(), user.id, project, value)
    output.result(changed, json_output, f"Project {changed.name} now fits pictures by "
                  f"{changed.fit}.")


@app.command("delete")
def delete(
    project: str = PROJECT_ARG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Delete a project with its assets and render history.

    Asks for confirmation on a terminal; elsewhere --yes is required.

    Example: rendercli project delete "summer trip" --yes
    """
    user = context.require_user_recovering()
    if not yes:
        if not context.stdin_is_tty():
            raise InvalidInput("refusing to delete without --yes when not on a terminal")
        target = projects.get(context.uow(), user.id, project)  # "not found" before asking
        if not typer.confirm(f"Delete project {target.name!r} and all its assets and renders?"):
            raise typer.Abort()
    deleted = projects.delete(context.uow(), user.id, project)
    output.result(deleted, json_output, f"Deleted project {deleted.name} ({deleted.id}).")


@app.command("storyboard")
def storyboard(
    project: str = PROJECT_ARG,
    preset: str = PRESET_OPTION,
    output_path: Path | None = output_option("Write the PNG to FILE (default: "
                                             "PROJECT-storyboard.png here)."),
    force: bool = FORCE_OPTION,
    open_file: bool = OPEN_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Draw a contact sheet of the timeline: one thumbnail per item, in order, with its
    number, place, length and name under it, to check order and framing at a glance.
    Each thumbnail is the item's middle frame as the render draws it; music is a plain
    tile. Prints the PNG's path.

    Exit 5 when the file exists (--force replaces it).

    Example: rendercli project storyboard holiday -o holiday-board.png --open
    """
    # Drawing and exporting load only for their own command (~30 ms a `project list`
    # need not pay).
    from rendercli.cli import stills
    from rendercli.services.renders import previews

    user = context.require_user()
    target = stills.target(output_path, user.id, project, "-storyboard.png", force)
    with stills.scratch() as scratch:
        board = previews.storyboard(context.uow(), user.id, project, scratch / "sheet.png",
                                    preset=preset)
        stills.publish(scratch / "sheet.png", target, force)
    if json_output:
        output.print_json({**output.jsonable(board), "path": str(target.resolve())})
    else:
        stills.print_path(target)
        count = len(board.items)
        output.note(f"storyboard of {board.project_name}: {count} item"
                    f"{'' if count == 1 else 's'} in {board.columns} x {board.rows}, "
                    f"{board.width}x{board.height} px")
    if open_file:
        stills.open_it(target)


@app.command("export")
def export(
    project: str = PROJECT_ARG,
    output_path: Path | None = typer.Option(
        None, "--output", "-o", metavar="FILE",
        help="The spec file to write (default: PROJECT.yaml here); - for standard output "
        "(with --by-hash)."),
    by_hash: bool = typer.Option(
        False, "--by-hash",
        help="Reference media by content hash (sha256:...) instead of copying the files "
        "next to the spec. Only your account can apply such a spec."),
    force: bool = FORCE_OPTION,
) -> None:
    """Write a project as a spec file that `rendercli apply` turns back into an equal
    project.

    Media and fonts are copied into a folder next to the spec (FILE's name + "-media"),
    one file per content; with --by-hash they are referenced by their SHA-256 instead.
    Existing files are replaced only with --force (else exit 5).

    Example: rendercli project export holiday -o holiday.yaml
    """
    from rendercli.services.specs import export as exporting



    stdout = output_path is not None and str(output_path) == "-"
    if stdout and not by_hash:
        raise InvalidInput("-o - writes the spec to standard output: add --by-hash (the "
                           "media files need a folder next to a spec file)")
    user = context.require_user()
    built = None
    if stdout:
        built = exporting.build(context.uow(), user.id, project, media_dir=None)
        sys.stdout.write(exporting.to_yaml(built.spec))
        return
    if output_path is None:
        name = exporting.build(context.uow(), user.id, project, media_dir=None).project
        output_path = Path(exporting.file_name(name) + ".yaml")
    target = output_file.check_target(output_path, force=force)
    media_dir = None if by_hash else f"{target.stem}-media"
    built = exporting.build(context.uow(), user.id, project, media_dir=media_dir)
    files = exporting.object_files(built, context.settings())
    for relative in files:  # exit 5 for any file that is there, before writing one
        folder = (target.parent / relative).parent
        if os.path.lexists(folder) and not folder.is_dir():
            raise InvalidInput(f"{folder} is there and is not a directory (nothing was written)")
        if folder.is_dir():
            output_file.check_target(target.parent / relative, force=force)
    for relative, source in files.items():
        (target.parent / relative).parent.mkdir(parents=True, exist_ok=True)
        # An object's name is its SHA-256: what is copied out must still be that content.
        output_file.publish(str(source), target.parent / relative, force=force,
                            sha256=source.name)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent,
                                     prefix=f".{target.name}.", delete=False) as tmp:
        tmp.write(exporting.to_yaml(built.spec))
    try:
        output_file.publish(tmp.name, target, force=force)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    extra = f" and {len(files)} file{'s' * (len(files) != 1)} in {media_dir}/" if files else ""
    output.say(f"Exported project {built.project} to {target}{extra}")
