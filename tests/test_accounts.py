"""register / login / logout / whoami through the real CLI, on both databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from sqlalchemy import func, select, update

from rendercli.db.models import AuthToken, User
from tests.conftest import TEST_PASSWORD, Cli
from tests.memory_keyring import HangingKeyring, MemoryKeyring
from tests.orm import get_session_factory

pytestmark = pytest.mark.usefixtures("database_url")


def register(cli: Cli, email: str = "ana@example.com", password: str = TEST_PASSWORD) -> None:
    cli.ok("register", "--email", email, "--password-stdin", input=password + "\n")


def login(cli: Cli, email: str = "ana@example.com", *extra: str, password: str = TEST_PASSWORD):
    return cli("login", "--email", email, "--password-stdin", *extra, input=password + "\n")


def token_rows(url: str) -> list[AuthToken]:
    with get_session_factory(url)() as session:
        return list(session.scalars(select(AuthToken)))


def test_register_login_whoami_logout(cli: Cli, database_url: str, isolated: MemoryKeyring):
    register(cli, "Ana@Example.COM")
    result = login(cli, "ana@EXAMPLE.com")
    assert result.exit_code == 0, result.stderr
    assert "Logged in as ana@example.com" in result.stdout
    # The token lives in the keyring, keyed by database; the server keeps only its hash.
    [(service, key)] = list(isolated.store)
    token = isolated.store[(service, key)]
    assert service == "rendercli" and token.startswith("rcli_") and len(token) >= 43 + 5
    [row] = token_rows(database_url)
    assert row.token_hash != token and len(row.token_hash) == 64
    assert row.expires_at is not None
    assert 29.9 < (row.expires_at - row.created_at).total_seconds() / 86400 < 30.1

    who = json.loads(cli.ok("whoami", "--json").stdout)
    assert who["email"] == "ana@example.com"
    assert who["token_source"] == "keyring"
    assert who["created_at"].endswith("Z")

    out = cli.ok("logout")
    assert "1 session revoked" in out.stdout
    assert isolated.store == {}
    [row] = token_rows(database_url)
    assert row.revoked_at is not None
    after = cli("whoami", "--json")
    if database_url.startswith("sqlite"):  # logged out: the local account (no login there)
        assert json.loads(after.stdout)["email"].endswith("@localhost")
    else:
        assert after.exit_code == 4
        assert "not logged in" in after.stderr


def test_email_is_unique_case_insensitively(cli: Cli) -> None:
    register(cli, "dup@example.com")
    again = cli("register", "--email", "DUP@example.com", "--password-stdin", input="x" * 9 + "\n")
    assert again.exit_code == 5
    assert again.stderr.strip() == "error: an account with email dup@example.com already exists"


def test_wrong_password_and_unknown_email_fail_identically(cli: Cli) -> None:
    register(cli)
    wrong = login(cli, "ana@example.com", password="not the password")
    unknown = login(cli, "nobody@example.com", password="not the password")
    assert wrong.exit_code == unknown.exit_code == 4
    assert wrong.stderr == unknown.stderr == "error: incorrect email or password\n"


def bcrypt_calls(tmp_path, *args: str, input: str) -> tuple[int, list[list]]:
    """Run the real CLI in a fresh process (no warm caches) and list its bcrypt calls."""
    counts = tmp_path / f"bcrypt-{len(list(tmp_path.glob('bcrypt-*')))}.json"
    proc = subprocess.run([sys.executable, "-m", "tests.bcrypt_counter", str(counts), *args],
                          input=input, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent)
    return proc.returncode, json.loads(counts.read_text())


def test_unknown_email_costs_the_same_bcrypt_work_as_a_wrong_password(
    cli: Cli, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # Counted, not timed: each login computes exactly one bcrypt proof, with the account's
    # salt or, for an unknown email, a fake salt of the configured cost, and nothing else
    # (a hash computed on the spot would make an unknown email cost twice as much).
    register(cli)  # at the suite's cost 4
    new_cost = 6
    if database_url.startswith("postgresql"):  # there the cost is the database's
        from rendercli.db.access import set_bcrypt_cost
        from rendercli.db.engines import get_engine

        with get_engine(database_url).begin() as conn:
            set_bcrypt_cost(conn, new_cost)
    monkeypatch.setenv("RENDERCLI_BCRYPT_ROUNDS", str(new_cost))
    login_args = ("login", "--email", "{}", "--password-stdin", "--insecure-storage")
    results = {}
    for who in ("ana@example.com", "ghost@example.com", "ghost@example.com"):
        args = [a.format(who) for a in login_args]
        results.setdefault(who, []).append(bcrypt_calls(tmp_path, *args, input="wrong pass\n"))
    assert results["ana@example.com"] == [(4, [["hashpw", 4]])]  # the account's own cost
    assert results["ghost@example.com"] == [(4, [["hashpw", new_cost]])] * 2  # configured
    # Over-long passwords too: the same one computation.
    assert bcrypt_calls(tmp_path, *[a.format("ghost@example.com") for a in login_args],
                        input="x" * 100 + "\n") == (4, [["hashpw", new_cost]])


def test_default_bcrypt_cost_is_12(cli: Cli, database_url: str, monkeypatch) -> None:
    monkeypatch.delenv("RENDERCLI_BCRYPT_ROUNDS")
    if database_url.startswith("postgresql"):
        # PostgreSQL: the database's cost, 12 unless `db upgrade` ran with an explicit
        # RENDERCLI_BCRYPT_ROUNDS (the suite's template records 4).
        from rendercli.db.access import set_bcrypt_cost
        from rendercli.db.engines import get_engine

        with get_engine(database_url).begin() as conn:
            set_bcrypt_cost(conn, 12)
    register(cli)
    with get_session_factory(database_url)() as session:
        assert session.scalar(select(User.password_salt)).startswith("$2b$12$")


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("a" * 72, True),
        ("é" * 36, True),  # 72 bytes of UTF-8
        ("a" * 73, False),
        ("é" * 36 + "a", False),  # 73 bytes, 37 characters
        ("short7!", False),
        ("eight888", True),
    ],
)
def test_password_length_rule(cli: Cli, password: str, accepted: bool) -> None:
    result = cli("register", "--email", "p@example.com", "--password-stdin", input=password + "\n")
    if accepted:
        assert result.exit_code == 0, result.stderr
        assert login(cli, "p@example.com", password=password).exit_code == 0
        # Never truncated: the 72-byte password plus one more byte must not log in.
        assert login(cli, "p@example.com", password=password + "x").exit_code == 4
    else:
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: password is")
        assert login(cli, "p@example.com", password=password).exit_code == 4


def test_expired_token_says_so(cli: Cli, database_url: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    register(cli)
    assert login(cli).exit_code == 0
    with get_session_factory(database_url)() as session:
        session.execute(update(AuthToken).values(
            expires_at=datetime(2020, 5, 1, 12, 0, tzinfo=UTC)))
        session.commit()
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")  # a server session in another time zone
    from rendercli.db.rows import close_idle

    close_idle()
    result = cli("project", "list")
    assert result.exit_code == 4
    assert "expired on 2020-05-01 12:00 UTC" in result.stderr  # UTC, whatever the zone
    assert "rendercli login" in result.stderr


def test_revoked_token_says_so(cli: Cli) -> None:
    register(cli)
    token = json.loads(cli.ok("register", "--email", "b@example.com", "--password-stdin",
                              "--json", input=TEST_PASSWORD + "\n").stdout)
    assert token["email"] == "b@example.com"
    assert login(cli).exit_code == 0
    issued = json.loads(cli.ok("token", "create", "--name", "ci", "--json").stdout)
    cli.ok("token", "revoke", issued["id"])
    result = cli("whoami", env={"RENDERCLI_TOKEN": issued["token"]})
    assert result.exit_code == 4
    assert result.stderr == (
        "error: the API token 'ci' was revoked: create a new one with `rendercli token "
        "create` where you are logged in\n"
    )
    from rendercli.services import accounts
    from rendercli.services.unit_of_work import UnitOfWork

    session = accounts.login(UnitOfWork(), "ana@example.com", TEST_PASSWORD, session_name="x")
    accounts.logout(UnitOfWork(), session.token)
    result = cli("whoami", env={"RENDERCLI_TOKEN": session.token})
    assert result.exit_code == 4
    assert "login session was revoked (logged out" in result.stderr
    assert "API token" not in result.stderr


def test_logout_all_revokes_every_session(cli: Cli, database_url: str) -> None:
    from rendercli.services import accounts
    from rendercli.services.unit_of_work import UnitOfWork

    register(cli)
    for machine in ("laptop", "desktop"):  # logins elsewhere, straight through the service
        accounts.login(UnitOfWork(), "ana@example.com", TEST_PASSWORD, session_name=machine)
    assert login(cli).exit_code == 0
    api = json.loads(cli.ok("token", "create", "--name", "ci", "--json").stdout)
    assert "3 sessions revoked" in cli.ok("logout", "--all").stdout
    rows = token_rows(database_url)
    sessions = [r for r in rows if r.kind == "session"]
    assert len(sessions) == 3 and all(r.revoked_at for r in sessions)
    # API tokens for CI are managed with `token revoke`, not logout.
    assert cli("whoami", env={"RENDERCLI_TOKEN": api["token"]}).exit_code == 0


def test_no_keyring_backend_names_both_ways_out(cli: Cli, database_url: str) -> None:
    register(cli)
    keyring.set_keyring(fail.Keyring())
    result = login(cli)
    assert result.exit_code == 1
    assert "RENDERCLI_TOKEN" in result.stderr and "--insecure-storage" in result.stderr
    assert result.stderr.count("\n") == 1
    assert token_rows(database_url) == []  # nothing half-done server-side either
    assert not (cli_config_file()).exists()  # and no silent plaintext fallback


def cli_config_file():
    from rendercli.app import App
    from rendercli.credentials import credentials_path

    return credentials_path(App.from_environment().settings)


def test_hanging_keyring_is_bounded(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    register(cli)
    hanging = HangingKeyring()
    keyring.set_keyring(hanging)
    monkeypatch.setenv("RENDERCLI_KEYRING_TIMEOUT", "0.5")
    try:
        result = login(cli)
        assert result.exit_code == 1
        assert "did not answer within 0.5 s" in result.stderr
    finally:
        hanging.release.set()


def test_insecure_storage_file_is_0600(cli: Cli) -> None:
    register(cli)
    keyring.set_keyring(fail.Keyring())
    result = login(cli, "ana@example.com", "--insecure-storage")
    assert result.exit_code == 0, result.stderr
    path = cli_config_file()
    assert path.stat().st_mode & 0o777 == 0o600
    who = json.loads(cli.ok("whoami", "--json").stdout)
    assert who["token_source"] == str(path)
    cli.ok("logout")
    assert not path.exists()


def test_rendercli_token_takes_precedence(cli: Cli) -> None:
    register(cli, "ana@example.com")
    register(cli, "ben@example.com")
    assert login(cli, "ben@example.com").exit_code == 0
    ben_token = json.loads(cli.ok("token", "create", "--name", "ci", "--json").stdout)["token"]
    assert login(cli, "ana@example.com").exit_code == 0
    assert json.loads(cli.ok("whoami", "--json").stdout)["email"] == "ana@example.com"
    who = json.loads(cli.ok("whoami", "--json", env={"RENDERCLI_TOKEN": ben_token}).stdout)
    assert who["email"] == "ben@example.com" and who["token_source"] == "RENDERCLI_TOKEN"


def test_token_list_never_shows_secrets(cli: Cli) -> None:
    register(cli)
    assert login(cli).exit_code == 0
    created = json.loads(cli.ok("token", "create", "--name", "ci", "--expires-in", "90",
                                "--json").stdout)
    listed = cli.ok("token", "list", "--json").stdout
    assert created["token"] not in listed
    names = {t["name"] for t in json.loads(listed)}
    assert "ci" in names
    [ci] = [t for t in json.loads(listed) if t["name"] == "ci"]
    assert ci["kind"] == "api" and ci["expires_at"].startswith(created["expires_at"][:10])


def test_another_users_token_is_not_found(cli: Cli) -> None:
    register(cli, "ana@example.com")
    register(cli, "ben@example.com")
    assert login(cli, "ben@example.com").exit_code == 0
    ben_token = json.loads(cli.ok("token", "create", "--name", "x", "--json").stdout)
    assert login(cli, "ana@example.com").exit_code == 0
    result = cli("token", "revoke", ben_token["id"])
    assert result.exit_code == 3
    assert cli("whoami", env={"RENDERCLI_TOKEN": ben_token["token"]}).exit_code == 0


def test_two_databases_keep_separate_logins(
    cli: Cli, tmp_path, monkeypatch, isolated: MemoryKeyring
) -> None:
    register(cli)
    assert login(cli).exit_code == 0
    first = os.environ.get("RENDERCLI_DATABASE_URL")  # None: the embedded default
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    # No login for this database: on SQLite, its own local account.
    assert json.loads(cli.ok("whoami", "--json").stdout)["local_account"] is True
    register(cli, "ben@example.com")
    assert login(cli, "ben@example.com").exit_code == 0
    assert json.loads(cli.ok("whoami", "--json").stdout)["email"] == "ben@example.com"
    assert len(isolated.store) == 2  # one token per database
    # Back on the first database, its login survived the second one.
    if first is None:
        monkeypatch.delenv("RENDERCLI_DATABASE_URL")
    else:
        monkeypatch.setenv("RENDERCLI_DATABASE_URL", first)
    assert json.loads(cli.ok("whoami", "--json").stdout)["email"] == "ana@example.com"


def test_session_rows_counted(cli: Cli, database_url: str) -> None:
    register(cli)
    assert login(cli).exit_code == 0
    with get_session_factory(database_url)() as session:
        assert session.scalar(select(func.count()).select_from(AuthToken)) == 1


def test_logout_never_revokes_an_api_token(cli: Cli) -> None:
    register(cli)
    assert login(cli).exit_code == 0
    api = json.loads(cli.ok("token", "create", "--name", "ci", "--json").stdout)
    result = cli("logout", env={"RENDERCLI_TOKEN": api["token"]})
    assert result.exit_code == 2
    assert f"rendercli token revoke {api['id']}" in result.stderr
    assert cli("whoami", env={"RENDERCLI_TOKEN": api["token"]}).exit_code == 0


def test_a_new_login_ends_this_machines_previous_session(cli: Cli, database_url: str) -> None:
    register(cli)
    assert login(cli).exit_code == 0
    assert login(cli).exit_code == 0
    sessions = [r for r in token_rows(database_url) if r.kind == "session"]
    assert len(sessions) == 2
    assert sum(r.revoked_at is None for r in sessions) == 1


def test_token_options_must_not_contradict(cli: Cli) -> None:
    register(cli)
    assert login(cli).exit_code == 0
    result = cli("token", "create", "--name", "x", "--expires-in", "90", "--never-expires")
    assert result.exit_code == 2 and "contradict" in result.stderr
    never = json.loads(cli.ok("token", "create", "--name", "y", "--never-expires",
                              "--json").stdout)
    assert never["expires_at"] is None


@pytest.mark.parametrize("name", ["ci\x1b[2J", "two\nlines", "del\x7f", "csi\x9b31m", "nul\x00"])
def test_token_names_with_control_characters_are_refused(cli: Cli, database_url: str,
                                                          name: str) -> None:
    register(cli)
    assert login(cli).exit_code == 0
    result = cli("token", "create", "--name", name)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr == "error: token name must not contain control characters\n"
    assert [r.kind for r in token_rows(database_url)] == ["session"]


NEW_PASSWORD = "a brand new passphrase"


def passwd(cli: Cli, current: str, new: str, *extra: str, env: dict | None = None):
    return cli("passwd", "--password-stdin", *extra, input=f"{current}\n{new}\n", env=env)


def other_sessions(count: int) -> list[str]:
    from rendercli.services import accounts
    from rendercli.services.unit_of_work import UnitOfWork

    return [accounts.login(UnitOfWork(), "ana@example.com", TEST_PASSWORD,
                           session_name=f"machine {i}").token for i in range(count)]


def test_passwd_revokes_other_sessions_and_keeps_api_tokens(cli: Cli) -> None:
    register(cli)
    elsewhere = other_sessions(2)
    assert login(cli).exit_code == 0
    api = json.loads(cli.ok("token", "create", "--name", "ci", "--json").stdout)
    result = passwd(cli, TEST_PASSWORD, NEW_PASSWORD, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"sessions_revoked": 2, "api_tokens_kept": 1}
    assert json.loads(cli.ok("whoami", "--json").stdout)["email"] == "ana@example.com"
    for token in elsewhere:
        gone = cli("whoami", env={"RENDERCLI_TOKEN": token})
        assert gone.exit_code == 4 and "the password was changed" in gone.stderr
    assert cli("whoami", env={"RENDERCLI_TOKEN": api["token"]}).exit_code == 0
    assert login(cli, password=TEST_PASSWORD).exit_code == 4
    assert login(cli, password=NEW_PASSWORD).exit_code == 0
    # And back, in words this time.
    again = passwd(cli, NEW_PASSWORD, TEST_PASSWORD)
    assert again.exit_code == 0, again.stderr
    assert again.stdout == ("Password changed. 0 other login sessions revoked; 1 API token "
                            "keeps working (`rendercli token list`).\n")


@pytest.mark.parametrize(
    ("current", "new", "code", "message"),
    [
        ("not the password", NEW_PASSWORD, 4, "error: the current password is incorrect\n"),
        (TEST_PASSWORD, "short", 2, "error: password is too short: use at least 8 characters\n"),
        (TEST_PASSWORD, "x" * 73, 2, "error: password is too long: 73 bytes in UTF-8, the "
                                     "limit is 72 bytes\n"),
        (TEST_PASSWORD, TEST_PASSWORD, 2,
         "error: the new password is the same as the current one\n"),
    ],
)
def test_passwd_refusals_change_nothing(cli: Cli, database_url: str, current: str, new: str,
                                        code: int, message: str) -> None:
    register(cli)
    [elsewhere] = other_sessions(1)
    assert login(cli).exit_code == 0
    before = {(r.id, r.revoked_at) for r in token_rows(database_url)}
    result = passwd(cli, current, new)
    assert (result.exit_code, result.stderr) == (code, message)
    assert {(r.id, r.revoked_at) for r in token_rows(database_url)} == before
    assert cli("whoami", env={"RENDERCLI_TOKEN": elsewhere}).exit_code == 0
    assert login(cli, password=TEST_PASSWORD).exit_code == 0


def test_passwd_needs_a_login_and_both_lines(cli: Cli) -> None:
    register(cli)
    result = passwd(cli, TEST_PASSWORD, NEW_PASSWORD)
    assert result.exit_code == 4 and "not logged in" in result.stderr
    assert login(cli).exit_code == 0
    one_line = cli("passwd", "--password-stdin", input=TEST_PASSWORD + "\n")
    assert one_line.exit_code == 2 and "nothing on standard input" in one_line.stderr
    no_tty = cli("passwd")
    assert no_tty.exit_code == 2 and "--password-stdin" in no_tty.stderr
    assert login(cli, password=TEST_PASSWORD).exit_code == 0  # unchanged


def test_database_key_is_the_masked_url_without_loading_sqlalchemy_for_plain_paths() -> None:
    """Stored logins are keyed by the URL as SQLAlchemy masks it; the light path for plain
    SQLite paths must give exactly the same key, or existing logins would be lost."""
    import string

    from rendercli.credentials import database_key
    from rendercli.db.engines import display_url

    urls = [f"sqlite:////tmp/x{ch}y.db" for ch in " /._~+-" + string.ascii_letters]
    urls += ["sqlite:////tmp/ünï/x.db", "sqlite:////tmp/x.db?mode=ro", "sqlite:////t/%41.db",
             "postgresql+psycopg://u:secret@h/db"]
    for url in urls:
        assert database_key(url) == display_url(url), url
    assert "secret" not in database_key("postgresql+psycopg://u:secret@h/db")
