"""What `render frame` and `project storyboard` share: where the PNG goes, a scratch
directory to draw it in, publishing it through output_file, printing it (inline on
terminals that show images), and --open."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rendercli.cli import context, inline_image, output, output_file
from rendercli.cli.opener import open_file


def target(path: Path | None, user_id: str, project: str, suffix: str, force: bool) -> Path:
    """The file to write: `path`, or a name made from the project's (checked: exit 5 if it
    exists without `force`, exit 2 if it is not a regular file)."""
    if path is None:
        from rendercli.services import projects

        name = projects.get(context.uow(), user_id, project).name  # "not found" first
        path = output_file.default_name(name, suffix)
    return output_file.check_target(path, force=force)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rendercli-") as tmp:
        yield Path(tmp)


def publish(source: Path, destination: Path, force: bool) -> None:
    output_file.publish(source, destination, force=force, kept=False)


def print_path(path: Path) -> None:
    """The PNG's path on stdout; on a terminal that can show images, the picture too."""
    output.say(str(path))
    inline_image.show(path)


def open_it(path: Path) -> None:

    output.note(open_file(path))
