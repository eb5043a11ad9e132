"""`render frame` and `project storyboard` draw their PNG inside terminals that can show
images (kitty's graphics protocol, iTerm2's inline images), and only there."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path

import pytest

from rendercli.cli.inline_image import KITTY_CHUNK, escape_sequence, protocol
from tests.conftest import Account
from tests.media_factory import make_image
from tests.terminal import Terminal, rendercli_executable

pytestmark = pytest.mark.any_database  # see tests/conftest.py

KITTY_PART = re.compile(r"\x1b_G([^;\x1b]*);([A-Za-z0-9+/=]*)\x1b\\")
ITERM = re.compile(r"\x1b\]1337;File=([^:\x07]*):([A-Za-z0-9+/=]*)\x07")


@pytest.mark.parametrize(("env", "tty", "mode", "expected"), [
    ({"TERM": "xterm-kitty"}, True, "auto", "kitty"),
    ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "3"}, True, "auto", "kitty"),
    ({"TERM": "xterm-ghostty"}, True, "auto", "kitty"),
    ({"TERM_PROGRAM": "iTerm.app"}, True, "auto", "iterm"),
    ({"TERM_PROGRAM": "WezTerm"}, True, "auto", "iterm"),
    ({"TERM": "xterm-256color"}, True, "auto", None),  # plain terminals get the path only
    ({"TERM": "xterm-kitty"}, False, "auto", None),  # piped: never
    ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, True, "auto", None),
    ({"TERM": "screen-256color", "TERM_PROGRAM": "iTerm.app"}, True, "auto", None),
    ({"TERM": "xterm-kitty"}, True, "never", None),
    ({"TMUX": "x"}, True, "kitty", "kitty"),  # forced: the user knows their passthrough
    ({}, True, "iterm", "iterm"),
    ({}, False, "iterm", None),  # never into a pipe or a file
])
def test_protocol_is_chosen_from_the_terminal(env: dict[str, str], tty: bool, mode: str,
                                             expected: str | None) -> None:
    assert protocol(env, tty, mode) == expected


def test_kitty_sends_the_png_in_chunks_that_rebuild_it_exactly() -> None:
    png = os.urandom(10_000)  # any bytes: the sequence carries them as base64 only
    sequence = escape_sequence(png, "kitty", 80)
    parts = KITTY_PART.findall(sequence)
    assert "".join(f"\x1b_G{k};{p}\x1b\\" for k, p in parts) + "\n" == sequence  # nothing else
    assert len(parts) == 4  # 13,336 base64 characters in 4,096-character chunks
    assert parts[0][0] == "a=T,f=100,q=2,c=80,m=1"
    assert [keys for keys, _ in parts[1:]] == ["m=1", "m=1", "m=0"]
    assert all(len(payload) <= KITTY_CHUNK for _, payload in parts)
    assert base64.b64decode("".join(payload for _, payload in parts)) == png


def test_iterm_sends_the_png_with_its_size() -> None:
    png = os.urandom(3000)
    (keys, payload), = ITERM.findall(escape_sequence(png, "iterm", 72))
    assert keys == "inline=1;size=3000;width=72;preserveAspectRatio=1"
    assert base64.b64decode(payload) == png


@pytest.fixture
def still_project(alice: Account, tmp_path: Path) -> str:
    alice.ok("project", "create", "look")
    alice.ok("asset", "add", "look", str(make_image(tmp_path / "still.png")), "--duration", "1")
    return "look"


def test_frame_and_storyboard_show_inline_on_kitty_and_not_when_piped(
    alice: Account, still_project: str, tmp_path: Path
) -> None:
    env = {**os.environ, "RENDERCLI_TOKEN": alice.token, "TERM": "xterm-kitty"}
    env.pop("TMUX", None)
    env.pop("STY", None)
    frame = tmp_path / "frame.png"
    term = Terminal("render", "frame", still_project, "--at", "0.5", "-o", str(frame), env=env,
                    columns=80)
    assert term.wait() == 0, term.output
    parts = KITTY_PART.findall(term.output)
    assert parts and parts[0][0].startswith("a=T,f=100,q=2,c=79,")  # fits the window
    assert base64.b64decode("".join(p for _, p in parts)) == frame.read_bytes()
    assert str(frame) in term.output  # the path is still printed, before the picture
    assert term.output.index(str(frame)) < term.output.index("\x1b_G")

    board = tmp_path / "board.png"
    term = Terminal("project", "storyboard", still_project, "-o", str(board), env=env,
                    columns=160)
    assert term.wait() == 0, term.output
    parts = KITTY_PART.findall(term.output)
    assert parts[0][0].startswith("a=T,f=100,q=2,c=100,")  # capped on wide terminals
    assert base64.b64decode("".join(p for _, p in parts)) == board.read_bytes()

    piped = subprocess.run([rendercli_executable(), "render", "frame", still_project, "--at",
                            "0.5", "-o", str(frame), "--force"], capture_output=True, text=True,
                           env=env, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == f"{frame}\n"  # a pipe gets the path and nothing else

    never = Terminal("render", "frame", still_project, "--at", "0.5", "-o", str(frame),
                     "--force", env={**env, "RENDERCLI_INLINE_IMAGES": "never"}, columns=80)
    assert never.wait() == 0, never.output
    assert "\x1b_G" not in never.output and str(frame) in never.output


def test_a_bad_inline_images_setting_fails_before_any_work(
    alice: Account, still_project: str, tmp_path: Path
) -> None:
    env = {**os.environ, "RENDERCLI_TOKEN": alice.token, "RENDERCLI_INLINE_IMAGES": "sixel"}
    out = tmp_path / "frame.png"
    result = subprocess.run([rendercli_executable(), "render", "frame", still_project, "--at",
                             "0.5", "-o", str(out)], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr == ("error: RENDERCLI_INLINE_IMAGES must be one of auto, never, kitty, "
                             "iterm, got 'sixel'\n")
    assert not out.exists()
