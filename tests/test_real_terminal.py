"""The installed `rendercli` executable, run as a real process on a real terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.terminal import Terminal, rendercli_executable


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
    term.proc.send_signal(signal.SIGINT)
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
    assert job["id"] in term.output and "completed" in term.output and "100.0%" in term.output
