"""The local account: on the embedded SQLite default nobody registers or logs in;
on PostgreSQL every caller still logs in."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from rendercli.media.ffmpeg_binary import ffmpeg_path
from tests.conftest import TEST_PASSWORD, Cli, make_account
from tests.media_factory import make_image, make_video
from tests.servers import PostgresServer
from tests.terminal import rendercli_executable

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]


def frames(path: Path) -> int:
    out = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-i", str(path), "-map", "0:v", "-f", "null", "-"],
        capture_output=True, text=True, check=True).stderr
    return int(out.rsplit("frame=", 1)[1].split()[0])


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (its keyring: the null backend, see conftest)."""
    return subprocess.run([rendercli_executable(), *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)


def test_a_fresh_machine_renders_without_register_or_login(tmp_path: Path) -> None:
    import pwd

    clip = make_video(tmp_path / "clip.mp4", duration=1.0, size=(160, 120))
    still = make_image(tmp_path / "still.png", size=(160, 120))
    out = tmp_path / "film.mp4"
    for args in (["project", "create", "film"],
                 ["asset", "add", "film", str(clip), str(still), "--duration", "1"],
                 ["render", "submit", "film", *FAST, "--output", str(out)]):
        done = run(*args)
        assert done.returncode == 0, (args, done.stderr)
    assert frames(out) == 20  # 1 s of clip + 1 s of still at 10 fps, decoded
    who = json.loads(run("whoami", "--json").stdout)
    assert who["email"] == f"{pwd.getpwuid(os.getuid()).pw_name.lower()}@localhost"
    assert who["local_account"] is True and who["token_source"].startswith("local account")
    # One account, kept across commands: the project made by the first command is its.
    listed = json.loads(run("project", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["film"]
    again = json.loads(run("whoami", "--json").stdout)
    assert again["id"] == who["id"]
    token_file = tmp_path / "data" / "local-account.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert next(iter(json.loads(token_file.read_text()).values())).startswith("rcli_")


def test_a_login_wins_over_the_local_account(cli: Cli, database_url: str,
                                             isolated: object) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the local account exists only on SQLite")
    local = json.loads(cli.ok("whoami", "--json").stdout)
    assert local["local_account"] is True
    make_account(cli, "ana@example.com")
    cli.ok("login", "--email", "ana@example.com", "--password-stdin",
           input=TEST_PASSWORD + "\n")
    who = json.loads(cli.ok("whoami", "--json").stdout)
    assert (who["email"], who["local_account"], who["token_source"]) == (
        "ana@example.com", False, "keyring")
    cli.ok("project", "create", "mine")
    cli.ok("logout")
    # Logged out: back to the same local account, which does not see ana's project.
    after = json.loads(cli.ok("whoami", "--json").stdout)
    assert after["id"] == local["id"]
    assert json.loads(cli.ok("project", "list", "--json").stdout) == []


def test_a_revoked_local_token_is_replaced(cli: Cli, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the local account exists only on SQLite")
    first = json.loads(cli.ok("whoami", "--json").stdout)
    [token] = json.loads(cli.ok("token", "list", "--json").stdout)
    assert token["name"] == "local account" and token["expires_at"] is None
    cli.ok("token", "revoke", token["id"])
    second = json.loads(cli.ok("whoami", "--json").stdout)
    assert second["id"] == first["id"]  # the same account, a new token
    live = json.loads(cli.ok("token", "list", "--json").stdout)
    assert len(live) == 1 and live[0]["id"] != token["id"]


def test_postgresql_still_needs_a_login(cli: Cli, database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    for args in (["project", "create", "film"], ["whoami"], ["project", "list"]):
        result = cli(*args)
        assert result.exit_code == 4, args
        assert result.stderr.startswith("error: not logged in")
    assert not (tmp_path / "data" / "local-account.json").exists()


def test_nobody_can_register_a_local_address(cli: Cli) -> None:
    result = cli("register", "--email", "root@localhost", "--password-stdin",
                 input=TEST_PASSWORD + "\n")
    assert result.exit_code == 2 and "not a valid email address" in result.stderr


def test_login_without_a_keyring_says_so_before_asking_for_a_password(cli: Cli) -> None:
    make_account(cli, "ana@example.com")
    keyring.set_keyring(fail.Keyring())  # the isolation fixture puts its own back
    # No --password-stdin and no terminal: had it asked for the password first, this
    # would be the "no terminal" error (exit 2).
    result = cli("login", "--email", "ana@example.com")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--insecure-storage" in result.stderr and "RENDERCLI_TOKEN" in result.stderr


def test_a_local_project_moves_to_a_farm_by_export_and_apply(
    cli: Cli, tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = make_video(tmp_path / "clip.mp4", duration=1.0, size=(160, 120))
    cli.ok("project", "create", "film")
    cli.ok("asset", "add", "film", str(clip))
    cli.ok("title", "add", "film", "Hello", "--duration", "1")
    spec = tmp_path / "moved" / "film.yaml"
    cli.ok("project", "export", "film", "-o", str(spec))
    url = postgres.create_database()
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", postgres.client_url(url))
    try:
        ana = make_account(cli, "ana@example.com")
        ana.ok("apply", str(spec))
        items = json.loads(ana.ok("asset", "list", "film", "--json").stdout)["assets"]
        assert [a["kind"] for a in items] == ["video", "title"]
    finally:
        from rendercli.db.engines import dispose_all

        dispose_all()
        postgres.drop_url(url)
