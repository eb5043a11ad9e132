"""`--open`: show a file with the desktop's own viewer, when there is one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def viewer() -> list[str] | None:
    """The command that opens a file on this desktop, or None when there is none (no
    `open`/`xdg-open`, or no display to show a window on)."""
    if sys.platform == "darwin":
        found = shutil.which("open")
        return [found] if found else None
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    found = shutil.which("xdg-open")
    return [found] if found else None


def open_file(path: Path) -> str:
    """Open `path` in the desktop's viewer (never through a shell; the viewer runs on
    by itself). Returns what happened, as a line for the user."""
    absolute = str(Path(path).resolve())  # never starts with "-": not read as an option
    if sys.platform == "win32":  # pragma: no cover - not a supported platform for tests
        os.startfile(absolute)  # type: ignore[attr-defined]
        return f"Opened {absolute}."
    command = viewer()
    if command is None:
        reason = ("no display (DISPLAY and WAYLAND_DISPLAY are unset)"
                  if sys.platform != "darwin" and shutil.which("xdg-open")
                  else "no `xdg-open` or `open` command")
        return f"--open: there is no desktop viewer here ({reason}); the file is {absolute}"
    try:
        subprocess.Popen([*command, absolute], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError as exc:
        return f"--open: could not start {command[0]}: {exc.strerror or exc}"
    return f"Opened {absolute} with {Path(command[0]).name}."
