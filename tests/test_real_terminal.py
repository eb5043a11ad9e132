"""The installed `rendercli` executable, run as a real process on a real terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.terminal import Terminal, rendercli_executable

pytestmark = pytest.mark.any_database  # see tests/conftest.py


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return dict(os.environ)


def run(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([rendercli_executable(), *args], input=input, capture_output=True,
                          text=True, env=env, timeout=60)


def test_prompts_hide_and_confirm_the_password(env: dict[str, str]) -> None:
    term = Terminal("register", env=env)
    term.expect("Email:")
    term.send("tty@example.com")
    term.expect_secret_prompt("Password:")
    term.send("sup3r-secret-pw")
    term.expect_secret_prompt("Repeat for confirmation:")
    term.send("sup3r-secret-pw")
    assert term.wait() == 0
    assert "Registered tty@example.com" in term.output
    assert "sup3r-secret-pw" not in term.output  # never echoed

    # No keyring daemon (as in CI): login stores the token only if asked to, in a 0600 file.
    login = Terminal("login", "--email", "tty@example.com", "--insecure-storage", env=env)
    login.expect_secret_prompt("Password:")
    login.send("sup3r-secret-pw")
    assert login.wait() == 0, login.output
    who = run("whoami", "--json", env=env)
    assert json.loads(who.stdout)["email"] == "tty@example.com"


def test_delete_asks_on_a_terminal(env: dict[str, str]) -> None:
    run("register", "--email", "d@example.com", "--password-stdin", env=env, input="password1\n")
    assert run("login", "--email", "d@example.com", "--password-stdin", "--insecure-storage",
               env=env, input="password1\n").returncode == 0
    assert run("project", "create", "keep me", env=env).returncode == 0
    term = Terminal("project", "delete", "keep me", env=env)
    term.expect("Delete project 'keep me'")
    term.send("n")
    assert term.wait() == 130
    assert run("project", "show", "keep me", env=env).returncode == 0
    term = Terminal("project", "delete", "keep me", env=env)
    term.expect("Delete project 'keep me'")
    term.send("y")
    assert term.wait() == 0
    assert run("project", "show", "keep me", env=env).returncode == 3


def test_ctrl_c_at_a_prompt_exits_130(env: dict[str, str]) -> None:
    term = Terminal("register", env=env)
    term.expect("Email:")
    # A SIGINT that lands after the prompt is written but before the read() starts is
    # only noticed at the next input (a CPython race), so press Ctrl-C again as a person
    # would if nothing happened.
    for _ in range(20):
        term.proc.send_signal(signal.SIGINT)
        try:
            term.proc.wait(0.5)
            break
        except subprocess.TimeoutExpired:
            continue
    assert term.wait() == 130


def test_no_keyring_daemon_gives_the_two_ways_out(env: dict[str, str]) -> None:
    # PYTHON_KEYRING_BACKEND is the null backend here, as on a headless CI machine.
    run("register", "--email", "k@example.com", "--password-stdin", env=env, input="password1\n")
    result = run("login", "--email", "k@example.com", "--password-stdin", env=env,
                 input="password1\n")
    assert result.returncode == 1
    assert "RENDERCLI_TOKEN" in result.stderr and "--insecure-storage" in result.stderr


def test_shell_completion_offers_commands(env: dict[str, str]) -> None:
    completion_env = {**env, "_RENDERCLI_COMPLETE": "complete_bash", "COMP_WORDS": "rendercli pro",
                      "COMP_CWORD": "1"}
    result = run(env=completion_env)
    assert "project" in result.stdout


def test_python_dash_m_works(env: dict[str, str]) -> None:
    import sys

    proc = subprocess.run([sys.executable, "-m", "rendercli", "--version"], capture_output=True,
                          text=True, env=env, check=True)
    assert proc.stdout.startswith("rendercli ")


def test_watch_draws_a_live_table_on_a_terminal(env: dict[str, str], tmp_path) -> None:
    from tests.media_factory import make_image

    run("register", "--email", "w@example.com", "--password-stdin", env=env, input="password1\n")
    run("login", "--email", "w@example.com", "--password-stdin", "--insecure-storage", env=env,
        input="password1\n")
    run("project", "create", "tv", env=env)
    run("asset", "add", "tv", str(make_image(tmp_path / "s.png")), "--duration", "0.5", env=env)
    job = json.loads(run("render", "submit", "tv", "--preset", "480p", "--fps", "10", "--json",
                         env=env).stdout)
    term = Terminal("jobs", "watch", job["id"], env={**env, "COLUMNS": "160"})
    assert term.wait() == 0
    for heading in ("JOB", "PROJECT", "STATUS", "PROGRESS", "ETA", "ELAPSED", "WORKER"):
        assert heading in term.output
    assert job["id"] in term.output and "completed" in term.output and "100 %" in term.output


def test_ids_are_shortened_to_a_prefix_that_works_on_a_narrow_terminal(
        env: dict[str, str]) -> None:
    run("register", "--email", "n@example.com", "--password-stdin", env=env, input="password1\n")
    run("login", "--email", "n@example.com", "--password-stdin", "--insecure-storage", env=env,
        input="password1\n")
    created = json.loads(run("project", "create", "a project with a long name", "--json",
                             env=env).stdout)
    term = Terminal("project", "list", env={**env, "COLUMNS": "50"})
    assert term.wait() == 0
    assert created["id"] not in term.output and created["id"][:7] in term.output
    shown = json.loads(run("project", "show", created["id"][:7], "--json", env=env).stdout)
    assert shown["id"] == created["id"]  # the short id is accepted back


@pytest.mark.slow
def test_sigterm_during_an_inline_render_cancels_the_job(env: dict[str, str], tmp_path) -> None:
    from tests.farm import wait_for
    from tests.media_factory import make_video
    from tests.processes import wait_until_gone

    run("register", "--email", "t@example.com", "--password-stdin", env=env, input="password1\n")
    run("login", "--email", "t@example.com", "--password-stdin", "--insecure-storage", env=env,
        input="password1\n")
    run("project", "create", "long", env=env)
    clip = make_video(tmp_path / "long.mp4", duration=12.0, size=(640, 360))
    run("asset", "add", "long", str(clip), env=env)
    proc = subprocess.Popen([rendercli_executable(), "render", "submit", "long", "--preset",
                             "1080p", "--quality", "high", "--no-cache"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def processing() -> bool:
        listed = json.loads(run("jobs", "list", "--json", env=env).stdout)
        return bool(listed) and listed[0]["status"] == "processing" and listed[0]["progress"] > 0

    wait_for(processing, 60, "the inline render to make progress")
    proc.send_signal(signal.SIGTERM)  # a CI timeout, a closed terminal
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "cancelled" in stderr
    assert wait_until_gone(str(tmp_path), 5.0) == []
    [job] = json.loads(run("jobs", "list", "--json", env=env).stdout)
    assert job["status"] == "cancelled" and job["output_url"] is None
    retry = run("render", "submit", "long", "--preset", "480p", "--fps", "10", env=env)
    assert retry.returncode == 0, retry.stderr  # the project is not locked


def test_status_colours_on_a_terminal_unless_no_color(env: dict[str, str], tmp_path) -> None:
    import re

    from tests.media_factory import make_image

    run("register", "--email", "c@example.com", "--password-stdin", env=env, input="password1\n")
    run("login", "--email", "c@example.com", "--password-stdin", "--insecure-storage", env=env,
        input="password1\n")
    run("project", "create", "colours", env=env)
    run("asset", "add", "colours", str(make_image(tmp_path / "s.png")), "--duration", "0.5",
        env=env)
    job = json.loads(run("render", "submit", "colours", "--preset", "480p", "--fps", "10",
                         "--json", env=env).stdout)
    colour = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;[0-9;]+)m")  # foreground colours
    styled_env = {k: v for k, v in env.items() if k != "NO_COLOR"}
    styled = Terminal("jobs", "watch", job["id"], env={**styled_env, "TERM": "xterm-256color"})
    assert styled.wait() == 0
    assert colour.search(styled.output), styled.output
    plain = Terminal("jobs", "watch", job["id"],
                     env={**env, "NO_COLOR": "1", "TERM": "xterm-256color"})
    assert plain.wait() == 0
    assert "completed" in plain.output and not colour.search(plain.output)


MARKUP_NAMES = ("[/bold]", "Wedding [final]", "[red]not red[/red] :smile:")


def test_user_text_is_shown_literally_in_every_table(env: dict[str, str], tmp_path) -> None:
    from tests.media_factory import make_image

    env = {**env, "COLUMNS": "200"}
    run("register", "--email", "m@example.com", "--password-stdin", env=env, input="password1\n")
    run("login", "--email", "m@example.com", "--password-stdin", "--insecure-storage", env=env,
        input="password1\n")
    still = str(make_image(tmp_path / "s.png"))
    job_ids = []
    per_project = []
    for name in MARKUP_NAMES:
        assert run("project", "create", name, env=env).returncode == 0
        added = run("asset", "add", name, still, "--duration", "0.5", "--json", env=env)
        assert added.returncode == 0, added.stderr
        [item] = json.loads(added.stdout)
        job = run("render", "submit", name, "--preset", "480p", "--fps", "10", "--json", env=env)
        assert job.returncode == 0, job.stderr
        job_ids.append(json.loads(job.stdout)["id"])
        # Title cards and text overlays are user text too, shown in asset and text lists.
        title = run("title", "add", name, name, "--duration", "0.5", "--json", env=env)
        assert title.returncode == 0, title.stderr
        assert run("text", "add", item["id"], name, env=env).returncode == 0
        title_id = json.loads(title.stdout)["id"]
        per_project += [(["asset", "list", name], [name]), (["asset", "show", title_id], [name]),
                        (["text", "list", item["id"]], [name])]
    wrong = {}
    everywhere = [(argv, MARKUP_NAMES) for argv in (
        ["project", "list"], ["jobs", "list"], ["jobs", "watch", *job_ids], ["stats"])]
    for argv, names in [*everywhere, *per_project]:
        term = Terminal(*argv, env=env)
        code = term.wait()
        missing = [name for name in names if name not in term.output]
        if code != 0 or missing:
            wrong[" ".join(argv)] = (code, missing, term.output)
    assert wrong == {}


def test_control_characters_in_stored_names_never_reach_the_terminal(
    env: dict[str, str], database_url: str
) -> None:
    from sqlalchemy import update

    from rendercli.db.models import AuthToken
    from tests.orm import get_session_factory

    run("register", "--email", "e@example.com", "--password-stdin", env=env, input="password1\n")
    run("login", "--email", "e@example.com", "--password-stdin", "--insecure-storage", env=env,
        input="password1\n")
    # A row written before names were checked (or straight into the database).
    with get_session_factory(database_url)() as session:
        session.execute(update(AuthToken).values(name="evil\x1b[2J\x1b]0;owned\x07\x9b31m\nname"))
        session.commit()
    term = Terminal("token", "list", env={**env, "COLUMNS": "200"})
    assert term.wait() == 0, term.output
    assert "\x1b[2J" not in term.output and "\x1b]0;" not in term.output
    assert "\x07" not in term.output and "\x9b" not in term.output
    assert "evil\\x1b[2J\\x1b]0;owned\\x07\\x9b31m name" in term.output
    piped = run("token", "list", env=env)
    assert "\x1b" not in piped.stdout and "evil\\x1b[2J" in piped.stdout


def test_passwd_asks_on_a_terminal_without_echo(env: dict[str, str]) -> None:
    run("register", "--email", "p@example.com", "--password-stdin", env=env, input="password1\n")
    run("login", "--email", "p@example.com", "--password-stdin", "--insecure-storage", env=env,
        input="password1\n")
    term = Terminal("passwd", env=env)
    term.expect_secret_prompt("Current password:")
    term.send("password1")
    term.expect_secret_prompt("New password:")
    term.send("new-secret-99")
    term.expect_secret_prompt("Repeat for confirmation:")
    term.send("new-secret-99")
    assert term.wait() == 0, term.output
    assert "Password changed." in term.output
    assert "password1" not in term.output and "new-secret-99" not in term.output
    assert run("whoami", env=env).returncode == 0  # this session stays
    assert run("login", "--email", "p@example.com", "--password-stdin", "--insecure-storage",
               env=env, input="new-secret-99\n").returncode == 0
