"""What a person at a terminal sees (issue 15): frames and storyboards as PNG files,
downloads, files never replaced without --force, --open, --json errors, help, ranges,
completion, and the token notes. Tables and progress are checked on a real
pseudo-terminal in test_terminal_layout.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Account, Cli
from tests.media_factory import make_color_video, make_image
from tests.terminal import rendercli_executable

pytestmark = pytest.mark.any_database  # see tests/conftest.py

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]


def png(path: Path) -> tuple[int, int, bytes]:
    """(width, height, packed RGB) of a PNG, decoded with PyAV."""
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    plane = frame.reformat(format="rgb24").planes[0]
    data, stride, row = bytes(plane), plane.line_size, frame.width * 3
    return frame.width, frame.height, b"".join(data[y * stride:y * stride + row]
                                               for y in range(frame.height))


def centre(path: Path) -> tuple[int, int, int]:
    width, height, data = png(path)
    offset = ((height // 2) * width + width // 2) * 3
    return data[offset], data[offset + 1], data[offset + 2]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("seen")
    return {
        "rb": make_color_video(d / "rb.mp4", colors=("red", "blue"), seconds_each=1.0),
        "still": make_image(d / "still.png"),
    }


@pytest.fixture
def project(alice: Account, media: dict[str, Path]) -> str:
    alice.ok("project", "create", "trip [2026]")
    alice.ok("asset", "add", "trip [2026]", str(media["rb"]), str(media["still"]),
             "--duration", "1")
    return "trip [2026]"


# ---- render frame ---------------------------------------------------------------------


def test_render_frame_writes_the_frame_as_a_png(alice: Account, project: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    red = alice.ok("render", "frame", project, "--at", "0.5", "--preset", "480p")
    path = Path(red.stdout.strip())
    assert path == Path("trip-2026-0.5s.png")  # a safe name made from the project's
    assert png(path)[:2] == (854, 480)
    r, g, b = centre(path)
    assert r > 180 and g < 60 and b < 60  # the first second of the clip is red
    blue = alice.ok("render", "frame", project, "--at", "1.5", "-o", "b.png", "--json")
    doc = json.loads(blue.stdout)
    assert doc["frame"] == 45 and doc["path"] == str(tmp_path / "b.png")
    assert png(tmp_path / "b.png")[:2] == (1280, 720)  # the default preset
    r, g, b = centre(tmp_path / "b.png")
    assert b > 180 and r < 60
    # the still, pillarboxed in a square frame
    still = alice.ok("render", "frame", project, "--at", "2.5", "--preset", "square",
                     "-o", "s.png")
    assert still.stdout == "s.png\n" and png(tmp_path / "s.png")[:2] == (1080, 1080)


def test_render_frame_loads_no_orm_on_the_embedded_default(
    alice: Account, project: str, tmp_path: Path, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The frame's timeline is read over plain SQL (services.items.read_items), the
    number and path given skip pydantic, and imageio-ffmpeg is not imported."""
    from tests.imports import modules_loaded_by

    monkeypatch.setenv("RENDERCLI_TOKEN", alice.token)
    out = tmp_path / "f.png"
    loaded = modules_loaded_by(["render", "frame", project, "--at", "1.5", "-o", str(out)],
                               ["sqlalchemy", "pydantic", "imageio_ffmpeg", "rq", "redis"])
    assert png(out)[:2] == (1280, 720)
    assert loaded == []  # bare sqlite3, or bare psycopg on PostgreSQL


def test_render_frame_refuses_an_existing_file_and_times_outside(
    alice: Account, bob: Account, project: str, tmp_path: Path
) -> None:
    target = tmp_path / "keep.png"
    target.write_bytes(b"precious")
    refused = alice("render", "frame", project, "--at", "0.5", "-o", str(target))
    assert refused.exit_code == 5
    assert refused.stderr == (f"error: {target} already exists: add --force to replace it, or "
                              "choose another name with --output (nothing was written)\n")
    assert target.read_bytes() == b"precious"
    alice.ok("render", "frame", project, "--at", "0.5", "-o", str(target), "--force")
    assert png(target)[:2] == (1280, 720)
    late = alice("render", "frame", project, "--at", "3.5", "-o", str(tmp_path / "x.png"))
    assert late.exit_code == 2
    assert late.stderr == ("error: --at must be a number from 0 to 3 (the video's length), "
                           "got 3.5\n")
    negative = alice("render", "frame", project, "--at", "-1", "-o", str(tmp_path / "x.png"))
    assert negative.exit_code == 2
    assert negative.stderr.startswith("error: --at must be a number of 0 or more, got -1")
    assert not (tmp_path / "x.png").exists()
    foreign = bob("render", "frame", project, "--at", "0", "-o", str(tmp_path / "y.png"))
    assert foreign.exit_code == 3 and not (tmp_path / "y.png").exists()


# ---- storyboard -------------------------------------------------------------------------


def test_storyboard_is_a_contact_sheet_of_the_timeline(alice: Account, project: str,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "board.png"
    result = alice.ok("project", "storyboard", project, "-o", str(out), "--json")
    doc = json.loads(result.stdout)
    assert [(i["position"], i["name"], i["start"], i["duration"]) for i in doc["items"]] == [
        (1, "rb.mp4", 0.0, 2.0), (2, "still.png", 2.0, 1.0)]
    width, height, data = png(out)
    assert (width, height) == (doc["width"], doc["height"]) and (doc["columns"], doc["rows"]) \
        == (2, 1)
    # two thumbnails side by side: the clip's middle frame (blue) and the test pattern
    half = width // 2

    def mean_blue_minus_red(x0: int, x1: int) -> float:
        total = count = 0
        for y in range(20, 120):
            for x in range(x0 + 40, x1 - 40, 3):
                o = (y * width + x) * 3
                total += data[o + 2] - data[o]
                count += 1
        return total / count

    assert mean_blue_minus_red(0, half) > 100  # solid blue
    assert abs(mean_blue_minus_red(half, width)) < 60  # many colours
    again = alice("project", "storyboard", project, "-o", str(out))
    assert again.exit_code == 5 and "--force" in again.stderr


# ---- jobs status and download -----------------------------------------------------------


def test_status_shows_files_and_download_copies_the_video(
    alice: Account, project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    status = alice.ok("jobs", "status", job["id"]).stdout
    assert f"output:    {job['output_path']}\n" in status
    assert f"poster:    {job['output_path'][:-4]}.jpg\n" in status
    assert "duration:  3.0 s\n" in status and re.search(r"size: +\d+\.\d kB\n", status)
    assert "error" not in status  # no empty error line
    monkeypatch.chdir(tmp_path)
    first = alice.ok("jobs", "download", job["id"])
    assert first.stdout == "trip-2026.mp4\n"
    assert (tmp_path / "trip-2026.mp4").read_bytes() == Path(job["output_path"]).read_bytes()
    again = alice("jobs", "download", job["id"])
    assert again.exit_code == 5 and "already exists: add --force" in again.stderr
    alice.ok("jobs", "download", job["id"], "--force")
    other = alice.ok("jobs", "download", job["id"], "-o", str(tmp_path / "x.mp4"), "--json")
    assert json.loads(other.stdout)["path"] == str(tmp_path / "x.mp4")


def test_download_to_stdout_writes_the_verified_video(alice: Account, project: str,
                                                     tmp_path: Path) -> None:
    job = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    argv = [rendercli_executable(), "jobs", "download", job["id"], "-o", "-"]
    piped = subprocess.run(argv, capture_output=True, check=False,
                           env={**os.environ, "RENDERCLI_TOKEN": alice.token})
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == Path(job["output_path"]).read_bytes()
    assert not Path("-").exists()
    refused = alice("jobs", "download", job["id"], "-o", "-", "--json")
    assert refused.exit_code == 2 and "need a file" in refused.stderr


def test_only_a_completed_job_can_be_downloaded(alice: Account, project: str,
                                                database_url: str, tmp_path: Path) -> None:
    from rendercli.db.models import RenderJob
    from tests.orm import get_session_factory

    job = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    with get_session_factory(database_url)() as session:
        session.get(RenderJob, job["id"]).status = "failed"
        session.commit()
    result = alice("jobs", "download", job["id"], "-o", str(tmp_path / "f.mp4"))
    assert result.exit_code == 5
    assert result.stderr == (f"error: job {job['id']} is failed: only a completed job has a "
                             "video to download\n")
    assert not (tmp_path / "f.mp4").exists()


def test_submit_output_never_replaces_a_file_without_force(alice: Account, project: str,
                                                           tmp_path: Path) -> None:
    target = tmp_path / "film.mp4"
    target.write_bytes(b"old")
    refused = alice("render", "submit", project, *FAST, "--output", str(target))
    assert refused.exit_code == 5 and "add --force to replace it" in refused.stderr
    assert target.read_bytes() == b"old"
    job = json.loads(alice.ok("render", "submit", project, *FAST, "--output", str(target),
                              "--force", "--json").stdout)
    assert target.read_bytes() == Path(job["output_path"]).read_bytes()


# ---- --open ---------------------------------------------------------------------------


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([rendercli_executable(), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_open_uses_the_desktop_viewer_or_says_there_is_none(
    alice: Account, project: str, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened.txt"
    viewer = bin_dir / "xdg-open"  # the desktop's opener, recording what it was asked
    viewer.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {opened}\n")
    viewer.chmod(0o755)
    env = {**os.environ, "RENDERCLI_TOKEN": alice.token, "DISPLAY": ":0",
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = tmp_path / "f 1.png"
    result = run("render", "frame", project, "--at", "1", "-o", str(out), "--open", env=env)
    assert result.returncode == 0, result.stderr
    assert f"Opened {out} with xdg-open." in result.stderr
    for _ in range(100):  # the viewer runs on by itself
        if opened.exists() and opened.read_text():
            break
        import time

        time.sleep(0.05)
    assert opened.read_text() == f"{out}\n"  # one argument, no shell in between
    headless = {**env, "PATH": "/usr/bin:/bin"}
    headless.pop("DISPLAY")
    result = run("render", "frame", project, "--at", "1", "-o", str(out), "--force", "--open",
                 env=headless)
    assert result.returncode == 0
    assert "--open: there is no desktop viewer here" in result.stderr and str(out) in result.stderr


# ---- --json errors --------------------------------------------------------------------


def test_json_errors_are_a_json_object_on_stderr(alice: Account, database_url: str) -> None:
    missing = alice("project", "show", "nope", "--json")
    assert missing.exit_code == 3 and missing.stdout == ""
    assert json.loads(missing.stderr) == {"error": "project not found: nope", "exit_code": 3}
    usage = alice("jobs", "list", "--limit", "0", "--json")
    assert usage.exit_code == 2
    assert json.loads(usage.stderr) == {
        "error": "--limit must be a whole number from 1 to 1000, got 0", "exit_code": 2}
    plain = alice("project", "show", "nope")
    assert plain.stderr == "error: project not found: nope\n"
    after_dashes = alice("project", "show", "--", "--json")  # a project named --json
    assert after_dashes.stderr == "error: project not found: --json\n"


# ---- help and ranges ------------------------------------------------------------------


def _all_paths() -> list[list[str]]:
    from typer.main import get_command

    from rendercli.cli.main import app

    def walk(command, path):  # type: ignore[no-untyped-def]
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(get_command(app), []))


@pytest.mark.parametrize("path", _all_paths(), ids=" ".join)
def test_help_names_arguments_plainly(cli: Cli, path: list[str]) -> None:
    text = cli.ok(*path, "--help").stdout
    for typer_ism in ("{", "<list[", "x>=", "x<=", "<=x", "range>"):
        assert typer_ism not in text, (typer_ism, text)


def test_help_shows_project_file_and_the_enforced_ranges(cli: Cli) -> None:
    add = cli.ok("asset", "add", "--help").stdout
    assert "Usage: rendercli asset add [OPTIONS] PROJECT FILE...\n" in add
    assert "\n  FILE...  " in add
    assert "[JOB]..." in cli.ok("jobs", "watch", "--help").stdout
    submit = " ".join(cli.ok("render", "submit", "--help").stdout.split())
    assert "[default: 30; from 1 to 120]" in submit


@pytest.mark.parametrize(("argv", "message"), [
    (["render", "submit", "p", "--fps", "0"], "--fps must be a whole number from 1 to 120, got 0"),
    (["render", "submit", "p", "--fps", "121"],
     "--fps must be a whole number from 1 to 120, got 121"),
    (["render", "submit", "p", "--fps", "2.5"],
     "--fps must be a whole number from 1 to 120, got 2.5"),
    (["asset", "add", "p", "f", "--duration", "-1"],
     "--duration must be a number of 0 or more, got -1"),
    (["asset", "add", "p", "f", "--duration", "nan"],
     "--duration must be a number of 0 or more, got nan"),
    (["asset", "update", "a", "--position", "0"],
     "--position must be a whole number of 1 or more, got 0"),
    (["jobs", "list", "--limit", "1001"],
     "--limit must be a whole number from 1 to 1000, got 1001"),
    (["jobs", "watch", "--interval", "inf"],
     "--interval must be a number from 0.1 to 3600, got inf"),
    (["token", "create", "--name", "x", "--expires-in", "0"],
     "--expires-in must be a whole number from 1 to 3650, got 0"),
    (["render", "frame", "p", "--at", "-0.5"], "--at must be a number of 0 or more, got -0.5"),
])
def test_every_out_of_range_value_gets_the_same_message(cli: Cli, argv: list[str],
                                                        message: str) -> None:
    result = cli(*argv)
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"


def test_click_errors_follow_the_tool_style(cli: Cli) -> None:
    assert cli("asset", "add").stderr == (
        "error: missing argument PROJECT (see 'rendercli asset add --help')\n")
    assert cli("render", "submit", "p", "--fps", "abc").stderr == (
        "error: invalid value for --fps: must be a whole number "
        "(see 'rendercli render submit --help')\n")


# ---- completion -----------------------------------------------------------------------


def complete(words: str, env: dict[str, str]) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    result = run(env={**env, "_RENDERCLI_COMPLETE": "complete_bash", "COMP_WORDS": words,
                      "COMP_CWORD": str(cword)})
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_completion_offers_your_projects_assets_jobs_and_values(
    alice: Account, bob: Account, project: str, database_url: str
) -> None:
    bob.ok("project", "create", "bobs secret")
    job = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    assets = json.loads(alice.ok("asset", "list", project, "--json").stdout)["assets"]
    env = {**os.environ, "RENDERCLI_TOKEN": alice.token}
    assert complete("rendercli render submit ", env) == ["trip [2026]"]
    assert complete("rendercli project storyboard b", env) == []  # bob's is not offered
    assert complete("rendercli jobs status ", env) == [job["id"]]
    assert complete("rendercli jobs download " + job["id"][:3], env) == [job["id"]]
    assert sorted(complete("rendercli asset show ", env)) == sorted(
        [project + ":"] + [a["id"] for a in assets])  # PROJECT: picks an item by position
    assert complete("rendercli render submit p --preset ", env) == [
        "2160p", "1080p", "720p", "480p", "square", "vertical"]
    assert complete("rendercli render submit p --format w", env) == ["webm"]
    assert complete("rendercli render submit p --quality d", env) == ["draft"]
    assert complete("rendercli jobs list --status c", env) == ["completed", "cancelled"]
    logged_out = {k: v for k, v in os.environ.items() if k != "RENDERCLI_TOKEN"}
    assert complete("rendercli jobs status ", logged_out) == []  # quietly nothing


def test_completion_statuses_are_the_models() -> None:
    from rendercli.cli.completion import JOB_STATUSES
    from rendercli.db.models import JOB_STATUSES as MODEL_STATUSES

    assert JOB_STATUSES == MODEL_STATUSES


# ---- tokens that surprise ---------------------------------------------------------------


def test_login_and_whoami_say_when_rendercli_token_overrides(
    cli: Cli, alice: Account, database_url: str
) -> None:
    from tests.conftest import TEST_PASSWORD, make_account

    make_account(cli, "ana@example.com")
    login = cli("login", "--email", "ana@example.com", "--password-stdin",
                input=TEST_PASSWORD + "\n", env={"RENDERCLI_TOKEN": alice.token})
    assert login.exit_code == 0, login.stderr
    assert login.stdout.startswith("Logged in as ana@example.com")
    assert login.stderr == (
        "warning: RENDERCLI_TOKEN is set (a token of alice@example.com) and takes "
        "precedence: commands still run as that token, not as ana@example.com. Run "
        "`unset RENDERCLI_TOKEN` to use this login.\n")
    who = cli.ok("whoami", env={"RENDERCLI_TOKEN": alice.token})
    assert "email:" in who.stdout and "alice@example.com" in who.stdout
    assert ("token_source: RENDERCLI_TOKEN, which overrides the login stored in keyring "
            "(a token of ana@example.com)") in " ".join(who.stdout.split())
    doc = json.loads(cli.ok("whoami", "--json", env={"RENDERCLI_TOKEN": alice.token}).stdout)
    assert doc["overrides_stored_login"] is True and doc["email"] == "alice@example.com"
    plain = json.loads(cli.ok("whoami", "--json").stdout)
    assert plain["overrides_stored_login"] is False and plain["email"] == "ana@example.com"


def test_no_keyring_advice_works_on_a_fresh_machine(cli: Cli, database_url: str) -> None:
    import keyring
    from keyring.backends import fail

    from tests.conftest import TEST_PASSWORD, make_account

    make_account(cli, "fresh@example.com")
    keyring.set_keyring(fail.Keyring())  # the isolation fixture puts its own back
    result = cli("login", "--email", "fresh@example.com", "--password-stdin",
                 input=TEST_PASSWORD + "\n")
    assert result.exit_code == 1
    message = result.stderr
    assert "run `rendercli login --insecure-storage`" in message
    # an API token for CI is reachable from here: log in that way first
    assert "log in that way, run `rendercli token create --name ci`, then `rendercli " \
        "logout`" in message
    assert "where you are logged in" not in message


def test_completion_works_in_zsh_and_fish_too(alice: Account, project: str) -> None:
    env = {**os.environ, "RENDERCLI_TOKEN": alice.token}
    zsh = run(env={**env, "_RENDERCLI_COMPLETE": "complete_zsh",
                   "_TYPER_COMPLETE_ARGS": "rendercli render submit "})
    assert zsh.returncode == 0, zsh.stderr
    assert '"trip \\[2026\\]"' in zsh.stdout or '"trip [2026]"' in zsh.stdout, zsh.stdout
    fish = run(env={**env, "_RENDERCLI_COMPLETE": "complete_fish",
                    "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                    "_TYPER_COMPLETE_ARGS": "rendercli render submit p --quality d"})
    assert fish.returncode == 0, fish.stderr
    assert fish.stdout.split() == ["draft"]
    fish_projects = run(env={**env, "_RENDERCLI_COMPLETE": "complete_fish",
                             "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                             "_TYPER_COMPLETE_ARGS": "rendercli project show t"})
    (line,) = fish_projects.stdout.splitlines()  # fish shows a description after a tab
    assert line.split("\t")[0] == "trip [2026]" and line.startswith("trip [2026]\tproject ")
