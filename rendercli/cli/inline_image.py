"""Show a PNG inside the terminal, on terminals that speak an inline-image protocol.

Two protocols cover the terminals people use for this: kitty's graphics protocol (kitty,
Ghostty, Konsole and WezTerm read it) and iTerm2's inline images (iTerm2 and WezTerm).
Sixel would need the PNG re-encoded into a palette, which is not worth a dependency for
a preview; those terminals get the path, as every other output does.

Detection only ever compares environment values with known names, and the escape
sequence carries nothing but base64 (and numbers we computed), so neither a hostile
environment nor a hostile file can inject terminal control sequences. Inside tmux or
screen the sequence would need passthrough wrapping that may be switched off, so `auto`
stays quiet there; RENDERCLI_INLINE_IMAGES=kitty|iterm forces a protocol.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from rendercli.cli.command_app import command_app

KITTY_CHUNK = 4096  # the protocol's largest base64 payload per escape sequence
MAX_BYTES = 16 * 1024 * 1024  # a bigger PNG is not worth streaming through a terminal
MAX_COLUMNS = 100  # wide terminals get a picture of a comfortable size, not a wall

_KITTY_TERMS = ("xterm-kitty", "xterm-ghostty")
_ITERM_PROGRAMS = ("iTerm.app", "WezTerm")


def protocol(env: Mapping[str, str], is_terminal: bool, mode: str = "auto") -> str | None:
    """Which inline protocol to speak ("kitty" or "iterm"), or None to print only the path."""
    if mode == "never" or not is_terminal:
        return None
    if mode in ("kitty", "iterm"):
        return mode
    if env.get("TMUX") or env.get("STY") or env.get("TERM", "").startswith("screen"):
        return None
    if env.get("TERM") in _KITTY_TERMS or env.get("KITTY_WINDOW_ID"):
        return "kitty"
    if env.get("TERM_PROGRAM") in _ITERM_PROGRAMS:
        return "iterm"
    return None


def escape_sequence(png: bytes, kind: str, columns: int) -> str:
    """The escape sequence(s) that draw `png` `columns` cells wide, then a newline."""
    payload = base64.standard_b64encode(png).decode("ascii")
    if kind == "iterm":
        return (f"\x1b]1337;File=inline=1;size={len(png)};width={columns};"
                f"preserveAspectRatio=1:{payload}\x07\n")
    chunks = [payload[i:i + KITTY_CHUNK] for i in range(0, len(payload), KITTY_CHUNK)] or [""]
    parts = []
    for index, chunk in enumerate(chunks):
        more = 1 if index < len(chunks) - 1 else 0
        # a=T: transmit and display; f=100: PNG; q=2: the terminal sends no reply
        # that would land in the shell's input; c: width in cells (height follows).
        keys = f"a=T,f=100,q=2,c={columns},m={more}" if index == 0 else f"m={more}"
        parts.append(f"\x1b_G{keys};{chunk}\x1b\\")
    return "".join(parts) + "\n"


def show(path: Path, stream: TextIO | None = None) -> bool:
    """Draw the PNG at `path` on `stream` (stdout) when the terminal can; True if drawn."""
    stream = stream or sys.stdout
    kind = protocol(os.environ, stream.isatty(), command_app().settings.inline_images)
    if kind is None:
        return False
    try:
        if path.stat().st_size > MAX_BYTES:
            return False
        png = path.read_bytes()
    except OSError:
        return False
    columns = max(10, min(shutil.get_terminal_size().columns - 1, MAX_COLUMNS))
    stream.write(escape_sequence(png, kind, columns))
    stream.flush()
    return True
