"""Tables, progress, logs and prompts as they look on a real pseudo-terminal, at 80 and
160 columns (the window size is set with TIOCSWINSZ, as a terminal emulator does)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.terminal import Terminal, rendercli_executable

pytestmark = pytest.mark.any_database  # see tests/conftest.py

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
LONG_NAME = "our summer holiday in the mountains, the director's cut"
ISO_OR_FULL = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def screen_lines(output: str) -> list[str]:
    """What the terminal shows, line by line, without colour and cursor codes."""
    return [line for line in ANSI.sub("", output).split("\n") if line.strip()]


def run(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([rendercli_executable(), *args], input=input, capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    from tests.media_factory import make_image

    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    run("register", "--email", "t@example.com", "--password-stdin", env=base,
        input="password1\n")
    run("login", "--email", "t@example.com", "--password-stdin", "--insecure-storage",
        env=base, input="password1\n")
    still = str(make_image(tmp_path / "s.jpg"))  # a JPEG: ffmpeg warns about its range
    for name in (LONG_NAME, "tv"):
        assert run("project", "create", name, env=base).returncode == 0
        assert run("asset", "add", name, still, "--duration", "0.5", env=base).returncode == 0
    return base


def submit(env: dict[str, str], project: str) -> dict:
    result = run("render", "submit", project, "--preset", "480p", "--fps", "10", "--json",
                 env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("columns", [80, 160])
def test_jobs_list_fits_the_terminal(env: dict[str, str], columns: int) -> None:
    jobs = [submit(env, LONG_NAME), submit(env, "tv")]
    term = Terminal("jobs", "list", env=env, columns=columns)
    assert term.wait() == 0
    lines = screen_lines(term.output)
    assert lines[0].split()[:3] == ["JOB", "PROJECT", "STATUS"]
    assert len(lines) == 3  # a header and one line per job: nothing wraps
    assert all(len(line) <= columns for line in lines), lines
    for job, line in zip(reversed(jobs), lines[1:], strict=True):
        # ids whole when there is room, else a unique prefix (accepted back as the id)
        shown = line.split()[0]
        assert job["id"].startswith(shown) and len(shown) >= 7
        assert (shown == job["id"]) == (columns == 160)
        assert " completed " in line and " 100 % " in line
        assert "just now" in line or " ago" in line  # relative time ...
        assert not ISO_OR_FULL.search(line)  # ... not a full timestamp
    long_line = lines[2]
    if columns == 80:
        assert "our summer" in long_line and "…" in long_line  # the name is cut
        assert LONG_NAME not in long_line
    else:
        assert LONG_NAME in long_line and "480p" in long_line and "mp4" in long_line


@pytest.mark.parametrize("columns", [80, 160])
def test_jobs_watch_fits_the_terminal(env: dict[str, str], columns: int) -> None:
    jobs = [submit(env, LONG_NAME), submit(env, "tv")]
    term = Terminal("jobs", "watch", *(j["id"] for j in jobs), env=env, columns=columns)
    assert term.wait() == 0
    # The live table redraws in place; the last drawing is what stays on the screen.
    final = term.output[term.output.rindex("JOB"):]
    lines = screen_lines(final)
    assert len(lines) == 3 and all(len(line) <= columns for line in lines), lines
    last = lines[1:]
    for job, line in zip(jobs, last, strict=True):
        shown = line.split()[0]
        assert job["id"].startswith(shown) and len(shown) >= 7 and " completed " in line
        assert "100 %" in line
    if columns == 160:
        assert LONG_NAME in last[0] and "inline@" in last[0]
    else:
        assert "…" in last[0]


def test_the_progress_bar_labels_elapsed_and_eta(env: dict[str, str], tmp_path: Path) -> None:
    from tests.media_factory import make_video

    clip = make_video(tmp_path / "clip.mp4", duration=4.0, size=(640, 360))
    assert run("asset", "add", "tv", str(clip), env=env).returncode == 0
    term = Terminal("render", "submit", "tv", "--preset", "1080p", "--quality", "high",
                    "--no-cache", env=env, columns=120)
    assert term.wait(120) == 0, term.output
    shown = ANSI.sub("", term.output)
    bars = [line for line in shown.split("\n") if line.startswith("rendering")]
    assert bars, shown
    for bar in bars:
        labelled = r"\d+ %\s+elapsed \d+(\.\d)? s\s+ETA (\u2013|\d+(\.\d)? s|\d+ min)"
        assert re.search(labelled, bar), bar
        # never two unlabelled times side by side ("ETA 0:03 0:00:01")
        assert not re.search(r"\d:\d\d\s+\d+:\d\d", bar), bar
    assert "ETA \u2013" in bars[0] and " 0 % " in bars[0]  # the start: 0 %, no estimate yet


def test_logs_show_each_command_once_without_known_noise(env: dict[str, str]) -> None:
    job = submit(env, "tv")
    log = run("jobs", "logs", job["id"], env=env).stdout
    commands = [line for line in log.splitlines() if ": $ " in line]
    assert commands and len(commands) == len(set(commands))
    assert not [line for line in log.splitlines() if line.startswith("$ ")]  # no bare repeats
    assert len([c for c in commands if "segment 1 " in c]) == 1
    assert "deprecated pixel format" not in log
    again = submit(env, "tv")
    hit = run("jobs", "logs", again["id"], env=env).stdout
    assert ("cache hit: the whole video (5 frames, 1 segments) was reused from an identical "
            "earlier render") in hit
    assert ": $ " not in hit  # no ffmpeg ran


def test_register_checks_the_rules_before_asking_again(env: dict[str, str]) -> None:
    term = Terminal("register", "--email", "new@example.com", env=env)
    term.expect_secret_prompt("Password:")
    term.send("short")
    too_short = "error: password is too short: use at least 8 characters"
    term.expect(too_short)
    mark = term.output.index(too_short)
    term.expect_secret_prompt("Password:", after=mark)  # asked again, not to repeat it
    assert "Repeat" not in term.output
    term.send("long enough 1")
    term.expect_secret_prompt("Repeat for confirmation:")
    term.send("long enough 2")
    mismatch = "error: the two entries do not match; enter the password again"
    term.expect(mismatch)
    mark = term.output.index(mismatch)
    term.expect_secret_prompt("Password:", after=mark)
    term.send("long enough 1")
    term.expect_secret_prompt("Repeat for confirmation:", after=mark)
    term.send("long enough 1")
    assert term.wait() == 0
    assert "Registered new@example.com" in term.output
    assert "Error:" not in term.output  # Click's own style never shows
