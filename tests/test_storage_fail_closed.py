"""Deleting shared objects fails closed (issue 19): a command whose token died never
deletes another account's media; on PostgreSQL only workers sweep unreferenced objects,
and every deletion is written to storage/deletions.log with its key and why."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from rendercli import storage
from rendercli.app import App
from rendercli.config import DEFAULT_ORPHAN_GRACE, get_settings
from rendercli.media import ingest
from rendercli.services.unit_of_work import UnitOfWork
from rendercli.services.upkeep import sweeps
from tests.conftest import TEST_PASSWORD, Account, Cli
from tests.farm import Farm, wait_for
from tests.media_factory import make_image, make_video
from tests.terminal import rendercli_executable

NEW_PASSWORD = "a brand new passphrase"
DEATHS = ["passwd", "logout-all", "revoke", "expired", "made-up"]


def storage_dir() -> Path:
    return get_settings().storage_dir


def objects() -> set[str]:
    return set(storage.object_keys(storage_dir(), 10**6))


def backdate_objects() -> None:
    when = datetime.now(UTC).timestamp() - 2 * DEFAULT_ORPHAN_GRACE
    for key in objects():
        os.utime(storage.object_path(storage_dir(), key), (when, when))


def deletions() -> list[dict]:
    log = storage_dir() / storage.DELETIONS_LOG
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def sweep_due() -> None:
    (storage_dir() / "tmp" / sweeps._STAMP).unlink(missing_ok=True)


def session_of(email: str) -> str:
    from rendercli.services import accounts
    from rendercli.services.unit_of_work import UnitOfWork

    return accounts.login(UnitOfWork(), email, TEST_PASSWORD, session_name="watch").token


def kill_token(how: str, cli: Cli, database_url: str, email: str) -> str:
    """One of bob's tokens, made dead the way a user (or time) would."""
    if how == "made-up":
        return "rcli_" + secrets.token_urlsafe(32)
    doomed, other = session_of(email), session_of(email)
    env = {"RENDERCLI_TOKEN": other}
    if how == "passwd":
        cli.ok("passwd", "--password-stdin", input=f"{TEST_PASSWORD}\n{NEW_PASSWORD}\n",
               env=env)
    elif how == "logout-all":
        cli.ok("logout", "--all", env=env)
    elif how == "revoke":
        issued = json.loads(cli.ok("token", "create", "--name", "ci", "--json",
                                   env=env).stdout)
        cli.ok("token", "revoke", issued["id"], env=env)
        doomed = issued["token"]
    elif how == "expired":
        from rendercli.db.engines import get_engine
        from rendercli.services.identity import hash_token

        with get_engine(database_url).begin() as conn:  # the owner: time passing
            conn.execute(text("UPDATE auth_tokens SET expires_at = :t WHERE token_hash = :h"),
                         {"t": datetime(2020, 1, 1), "h": hash_token(doomed)})
    assert cli("whoami", env={"RENDERCLI_TOKEN": doomed}).exit_code == 4
    return doomed


def two_accounts(alice: Account, bob: Account, tmp_path: Path) -> tuple[str, str]:
    """alice's clip and bob's picture, each in a project of theirs: their keys."""
    clip = make_video(tmp_path / "alice.mp4", duration=0.5)
    picture = make_image(tmp_path / "bob.png", size=(48, 48))
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(clip))
    bob.ok("project", "create", "mine")
    bob.ok("asset", "add", "mine", str(picture), "--duration", "1")
    return storage.file_sha256(clip), storage.file_sha256(picture)


def as_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process connects as a render worker does (the worker role on PostgreSQL)."""
    url = os.environ.get("RENDERCLI_WORKER_DATABASE_URL")
    if url is not None:
        monkeypatch.setenv("RENDERCLI_DATABASE_URL", url)


@pytest.mark.parametrize("how", DEATHS)
def test_a_dead_token_deletes_no_one_s_media(
    alice: Account, bob: Account, cli: Cli, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, how: str,
) -> None:
    from rendercli.services.unit_of_work import UnitOfWork

    alice_key, bob_key = two_accounts(alice, bob, tmp_path)
    dead = kill_token(how, cli, database_url, "bob@example.com")
    orphan = ingest.store_file(make_image(tmp_path / "orphan.png", size=(40, 40)),
                                storage_dir()).key
    backdate_objects()
    monkeypatch.setenv("RENDERCLI_ORPHAN_SWEEP_INTERVAL", "0")
    sweep_due()

    # A command started with the dead token stops at the token check.
    assert cli("jobs", "list", env={"RENDERCLI_TOKEN": dead}).exit_code == 4
    # One started before the token died (`jobs watch`, `render submit --wait`) keeps
    # running its upkeep with it, the orphan sweep due.
    sweeps.sweep_storage(force_orphans=True, uow=UnitOfWork(token=dead))
    assert {alice_key, bob_key} <= objects()
    # Freeing objects with a dead token: on PostgreSQL nothing can be answered, so
    # nothing is deleted (alice's key and the orphan alike).
    sweeps.remove_unreferenced_objects(UnitOfWork(token=dead), [alice_key, orphan],
                                       reason="test")

    assert {alice_key, bob_key} <= objects()
    removed = [d["key"] for d in deletions()]
    if database_url.startswith("sqlite"):
        # One user's own file: every row is visible, the sweep is exact.
        assert orphan not in objects() and removed == [orphan]
    else:
        assert orphan in objects() and removed == []  # clients never sweep here
    assert alice.ok("render", "submit", "film", "--preset", "480p", "--fps", "10",
                    "--quality", "draft", "--wait").exit_code == 0

    # The workers' sweep removes what nobody uses, and says so.
    as_worker(monkeypatch)
    sweep_due()
    sweeps.sweep_storage(worker=True, uow=UnitOfWork())
    assert orphan not in objects() and {alice_key, bob_key} <= objects()
    [record] = [d for d in deletions() if d["key"] == orphan]
    assert record["reason"].startswith("orphan sweep") and record["pid"] == os.getpid()


def test_a_client_never_sweeps_objects_on_postgresql(
    alice: Account, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with a live token: a client sees only its own account's assets."""
    orphan = ingest.store_file(make_image(tmp_path / "orphan.png"), storage_dir()).key
    other = ingest.store_file(make_video(tmp_path / "a.mp4", duration=0.5),
                               storage_dir()).key
    storage.mark_database(storage_dir(),
                          sweeps.database_fingerprint(get_settings().database_url))
    backdate_objects()
    assert sweeps.sweeps_orphans(get_settings(), worker=False) == (
        database_url.startswith("sqlite"))
    sweep_due()
    alice.ok("jobs", "list")
    if database_url.startswith("sqlite"):
        assert objects() == set()
    else:
        assert objects() == {orphan, other}
        # Asked directly, the client's login is refused the answer: nothing is deleted.
        assert sweeps.sweep_orphans(UnitOfWork()) is None
        assert objects() == {orphan, other} and deletions() == []


def test_a_storage_marked_by_one_login_is_swept_by_another(
    alice: Account, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients, workers and people have their own logins: the mark names the database."""
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(make_image(tmp_path / "a.png")))  # marks storage
    mark = storage.database_mark(storage_dir())
    assert mark is not None and "rc_test" not in mark and "@" not in mark
    orphan = ingest.store_file(make_image(tmp_path / "orphan.png", size=(40, 40)),
                                storage_dir()).key
    backdate_objects()
    as_worker(monkeypatch)
    assert sweeps.database_fingerprint(get_settings().database_url) == mark
    assert sweeps.sweep_orphans(UnitOfWork()) == 1 and orphan not in objects()
    assert len(objects()) == 1


def test_fingerprints_leave_the_login_out() -> None:
    fingerprint = sweeps.database_fingerprint
    a = fingerprint("postgresql+psycopg://alice:pw1@db.example:5432/farm")
    b = fingerprint("postgresql+psycopg://render_worker:pw2@db.example:5432/farm")
    assert a == b == "postgresql://db.example:5432/farm"
    assert fingerprint("postgresql://alice@db.example:5432/other") != a
    assert fingerprint("postgresql://alice@elsewhere:5432/farm") != a
    # Marks written by older versions name a login: any login of that database matches.
    assert sweeps.same_database("postgresql://alice@db.example:5432/farm", a)
    assert sweeps.same_database("postgresql://db.example:5432/farm", a)
    assert not sweeps.same_database("postgresql://alice@db.example:5432/farm2", a)
    assert not sweeps.same_database("", a)


def test_a_mark_that_cannot_be_read_or_differs_never_fails_upkeep(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = ingest.store_file(make_image(tmp_path / "orphan.png"), storage_dir()).key
    backdate_objects()
    as_worker(monkeypatch)
    mark = storage_dir() / ".database"
    for content in (b"postgresql://someone@elsewhere:5432/farm\n", b"\xff\xfe"):
        mark.write_bytes(content)
        sweep_due()
        sweeps.sweep_storage(worker=True, uow=UnitOfWork())  # no exception
        assert sweeps.sweep_orphans(UnitOfWork()) is None and orphan in objects()
    mark.unlink()
    mark.mkdir()  # unreadable as a file
    assert sweeps.sweep_orphans(UnitOfWork()) is None and orphan in objects()


def test_an_object_whose_deletion_cannot_be_logged_is_kept(tmp_path: Path) -> None:
    stored = ingest.store_file(make_image(tmp_path / "x.png"), tmp_path / "s")
    (tmp_path / "s" / storage.DELETIONS_LOG).symlink_to(tmp_path / "elsewhere.log")
    with pytest.raises(OSError):
        storage.remove_object(tmp_path / "s", stored.key, reason="test")
    assert stored.path.exists() and not (tmp_path / "elsewhere.log").exists()
    (tmp_path / "s" / storage.DELETIONS_LOG).unlink()
    assert storage.remove_object(tmp_path / "s", stored.key, reason="why") is True
    [record] = [json.loads(line) for line in
                (tmp_path / "s" / storage.DELETIONS_LOG).read_text().splitlines()]
    assert record["key"] == stored.key and record["reason"] == "why"
    assert set(record) == {"time", "key", "bytes", "reason", "host", "pid", "uid"}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["passwd", "logout-all"])
def test_bob_s_watch_outlives_his_session_and_alice_s_media_stays(
    alice: Account, bob: Account, cli: Cli, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, farm: Farm, how: str,
) -> None:
    """The issue's scenario: bob follows his job (`jobs watch`, upkeep every second, the
    orphan sweep due at each), his session dies elsewhere; alice renders afterwards on a
    real worker, whose sweep removes only the real orphan and logs it."""
    alice_key, bob_key = two_accounts(alice, bob, tmp_path)
    session = session_of("bob@example.com")
    job = bob.ok("render", "submit", "mine", "--preset", "480p").stdout.strip()  # no worker
    orphan = ingest.store_file(make_image(tmp_path / "orphan.png", size=(40, 40)),
                                storage_dir()).key
    backdate_objects()
    sweep_due()
    env = {**os.environ, "RENDERCLI_TOKEN": session, "RENDERCLI_ORPHAN_SWEEP_INTERVAL": "0",
           "RENDERCLI_WATCH_SWEEP_INTERVAL": "1"}
    watch = subprocess.Popen([rendercli_executable(), "jobs", "watch", job, "--interval",
                              "0.2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stamp = storage_dir() / "tmp" / sweeps._STAMP
    try:
        assert watch.stdout is not None
        assert b" queued " in watch.stdout.readline()  # after its first upkeep
        other = {"RENDERCLI_TOKEN": session_of("bob@example.com")}
        if how == "passwd":
            cli.ok("passwd", "--password-stdin", input=f"{TEST_PASSWORD}\n{NEW_PASSWORD}\n",
                   env=other)
        else:
            cli.ok("logout", "--all", env=other)
        if database_url.startswith("sqlite"):
            # Its own file: the watch goes on (and sweeps, seeing every row); wait for a
            # sweep that began after the revocation.
            revoked = datetime.now(UTC).timestamp()
            wait_for(lambda: stamp.exists() and stamp.stat().st_mtime > revoked, 60,
                     "a sweep after the revocation")
            watch.kill()
        _, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate()
    if not database_url.startswith("sqlite"):
        # The fetch after its upkeep no longer sees bob's job (row security).
        assert watch.returncode == 3 and b"job not found" in err, err
    assert {alice_key, bob_key} <= objects()
    if database_url.startswith("sqlite"):
        assert [d["key"] for d in deletions()] == [orphan]
    else:
        assert orphan in objects() and deletions() == []

    worker = farm.start_worker("w1", via="rendercli",
                               env={"RENDERCLI_ORPHAN_SWEEP_INTERVAL": "0"})
    result = alice("render", "submit", "film", "--preset", "480p", "--fps", "10",
                   "--quality", "draft", "--wait")
    assert result.exit_code == 0, (result.stderr, farm.logs())
    wait_for(lambda: orphan not in objects(), 60, "the worker's sweep")
    assert {alice_key, bob_key} <= objects()
    [record] = deletions()
    assert record["key"] == orphan and record["reason"].startswith("orphan sweep")
    # Who removed it: the watch on SQLite (its own file), the worker on PostgreSQL.
    assert record["pid"] == (watch.pid if database_url.startswith("sqlite") else worker.pid)
    if not database_url.startswith("sqlite"):
        assert f"deleting stored object {orphan}" in farm.logs()  # the worker's log too


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("login", ["worker", "worker-unmarked", "client"])
def test_an_object_sweep_that_cannot_ask_never_stops_dispatch(
    alice: Account, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    farm: Farm, login: str,
) -> None:
    """A worker's idle sweep on a storage marked by a client's login (the mark named the
    login: the worker never swept), or unmarked (the worker asked with a function it may
    not call, and the error skipped dispatch), or a worker misconfigured with a client's
    login: the queued job Redis lost is dispatched all the same."""
    from redis import Redis

    from rendercli.services.unit_of_work import UnitOfWork
    from rendercli.worker import farm_upkeep

    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(make_video(tmp_path / "a.mp4", duration=0.5)))
    alice_key = next(iter(objects()))
    job = alice.ok("render", "submit", "film", "--preset", "480p").stdout.strip()
    farm.redis.flush()  # Redis lost it: the next sweep dispatches it again
    orphan = ingest.store_file(make_image(tmp_path / "orphan.png"), storage_dir()).key
    backdate_objects()
    sweep_due()
    if login == "worker-unmarked":
        (storage_dir() / ".database").unlink()  # as an older version left it
    if login.startswith("worker"):
        farm_upkeep(None, App.for_worker().unit_of_work())  # the worker role's login
    else:  # a worker misconfigured with the client's login: sees alice's job only
        farm_upkeep(None, UnitOfWork(token=alice.token))

    queued = Redis.from_url(farm.redis.url).lrange("rq:queue:render-video", 0, -1)
    assert job.encode() in queued
    assert alice_key in objects()
    if login.startswith("worker"):
        assert orphan not in objects() and [d["key"] for d in deletions()] == [orphan]
    else:
        assert orphan in objects() and deletions() == []


def test_freed_objects_are_deleted_and_logged_only_when_nobody_uses_them(
    alice: Account, bob: Account, database_url: str, tmp_path: Path
) -> None:
    """`asset remove` / `project delete` with a live token: the shared file stays while
    another account uses it, and goes (logged with why) when the last user removes it."""
    clip = make_video(tmp_path / "shared.mp4", duration=0.5)
    key = storage.file_sha256(clip)
    alice.ok("project", "create", "film")
    [mine] = json.loads(alice.ok("asset", "add", "film", str(clip), "--json").stdout)
    bob.ok("project", "create", "copy")
    bob.ok("asset", "add", "copy", str(clip))
    bob.ok("project", "delete", "copy", "--yes")
    assert key in objects() and deletions() == []
    alice.ok("asset", "remove", mine["id"])
    assert key not in objects()
    [record] = deletions()
    assert record["key"] == key and record["reason"].startswith("asset remove")
    assert record["bytes"] == clip.stat().st_size
