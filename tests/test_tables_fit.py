"""Every table the CLI prints, on a real pseudo-terminal at 80 and 120 columns, with long
(and wide CJK) names and many effects per item: no line longer than the window, no
blank line, the header on one line, each row on one line. Ids are shortened to a
unique prefix before names are cut, and that prefix is accepted back as the id."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from rich.cells import cell_len

from tests.terminal import Terminal, rendercli_executable

pytestmark = pytest.mark.any_database  # see tests/conftest.py

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
# 60+ characters, half of them wide (two cells each)
LONG = ("our summer holiday in the mountains, the director's cut, "
        "夏休みの山旅行ディレクターズカット版")
ID = re.compile(r"^[a-z][a-z0-9]{23}$")


def run(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([rendercli_executable(), *args], input=input, capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, (args, result.stderr)
    return result


def table_lines(output: str) -> list[str]:
    """The screen's lines without colour codes; trailing blank lines dropped, blank
    lines inside kept (they are a failure)."""
    lines = ANSI.sub("", output).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, object]:
    from tests.media_factory import make_image, make_video

    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    run("register", "--email", "t@example.com", "--password-stdin", env=base,
        input="password1\n")
    run("login", "--email", "t@example.com", "--password-stdin", "--insecure-storage",
        env=base, input="password1\n")
    still = str(make_image(tmp_path / "s.png"))
    clip = str(make_video(tmp_path / "c.mp4", duration=0.5))
    run("project", "create", LONG, env=base)
    run("project", "create", "tv", env=base)
    run("asset", "add", "tv", still, "--duration", "0.5", env=base)
    for _ in range(3):
        run("asset", "add", LONG, still, "--duration", "0.5", "--fade-in", "0.1",
            "--fade-out", "0.1", "--motion", "zoom-in", "--fit", "cover",
            "--transition", "crossfade:0.2", env=base)
    run("asset", "add", LONG, clip, "--volume", "-3dB", "--fade-in", "0.1", env=base)
    items = json.loads(run("asset", "list", LONG, "--json", env=base).stdout)["assets"]
    first = items[0]["id"]
    for words in ("Ana Lima, director — 監督 " * 4, "second text"):
        run("text", "add", first, words, env=base)
    jobs = [json.loads(run("render", "submit", name, "--preset", "480p", "--fps", "10",
                           "--json", env=base).stdout)["id"] for name in (LONG, "tv")]
    return {"env": base, "item": first, "jobs": jobs}


def commands(setup: dict[str, object]) -> list[tuple[str, ...]]:
    jobs = setup["jobs"]
    assert isinstance(jobs, list)
    return [("project", "list"), ("asset", "list", LONG), ("text", "list", str(setup["item"])),
            ("jobs", "list"), ("token", "list", "--all"), ("stats",),
            ("jobs", "watch", *jobs)]


@pytest.mark.parametrize("columns", [80, 120])
def test_every_table_fits_the_terminal(env: dict[str, object], columns: int) -> None:
    base = env["env"]
    assert isinstance(base, dict)
    for args in commands(env):
        piped = run(*args, env=base).stdout.splitlines()
        term = Terminal(*args, env=base, columns=columns)
        assert term.wait() == 0, term.output
        output = term.output
        if args[:2] == ("jobs", "watch"):  # the live table's last drawing stays on screen
            output = output[output.rindex("JOB"):]
        lines = table_lines(output)
        header = next(n for n, line in enumerate(lines)
                      if re.match(r"(#|ID|JOB|PROJECT)\s", line))
        table = lines[header:]
        if args[:2] == ("asset", "list"):
            assert table[-1].startswith("Timeline: ")
            table = table[:-1]
        assert all(line.strip() for line in table), (args, table)  # no blank lines
        assert all(cell_len(line) <= columns for line in lines), (args, columns, lines)
        rows = [line for line in piped if line.strip()]
        if args[0] == "stats":  # fields first, then the table of busiest projects
            rows = [line for line in rows if "\t" in line]
        assert len(table) == 1 + len(rows), (args, columns, table)  # a row on one line
        assert table[0].split()[0] in ("#", "ID", "JOB", "PROJECT")  # the header: one line
        for line in table[1:]:
            assert not line.startswith(" "), (args, line)  # no continuation lines


def test_ids_are_cut_before_names_and_the_prefix_is_accepted(env: dict[str, object]) -> None:
    base = env["env"]
    assert isinstance(base, dict)
    term = Terminal("jobs", "list", env=base, columns=80)
    assert term.wait() == 0
    lines = table_lines(term.output)
    shown = [line.split()[0] for line in lines[1:]]
    jobs = env["jobs"]
    assert isinstance(jobs, list)
    assert len(shown) == 2 and all(7 <= len(s) < 24 for s in shown)
    assert sorted(j[:len(s)] for j, s in zip(reversed(jobs), shown, strict=True)) == sorted(shown)
    assert "our summer holiday" in lines[2]  # the name keeps what room is left
    # With room for everything, ids stay whole.
    wide = Terminal("jobs", "list", env=base, columns=200)
    assert wide.wait() == 0
    assert [line.split()[0] for line in table_lines(wide.output)[1:]] == list(reversed(jobs))
    # The shortened id is taken back wherever an id is.
    status = run("jobs", "status", shown[0], "--json", env=base)
    assert json.loads(status.stdout)["id"] == jobs[-1]
    items = json.loads(run("asset", "list", LONG, "--json", env=base).stdout)["assets"]
    texts = json.loads(run("text", "list", items[0]["id"][:7], "--json", env=base).stdout)
    assert len(texts) == 2
    project = json.loads(run("project", "list", "--json", env=base).stdout)[0]["id"]
    shown_project = json.loads(run("project", "show", project[:8], "--json", env=base).stdout)
    assert shown_project["id"] == project


def test_piped_tables_stay_complete_and_tab_separated(env: dict[str, object]) -> None:
    base = env["env"]
    assert isinstance(base, dict)
    rows = run("asset", "list", LONG, env=base).stdout.splitlines()
    assert len(rows) == 4
    for row in rows:
        fields = row.split("\t")
        assert len(fields) == 10 and ID.match(fields[1])
        assert "…" not in row
    assert LONG in run("jobs", "list", env=base).stdout
