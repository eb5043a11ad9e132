"""Hostile database rows must not make rendercli open, write or delete files outside
storage: rows are written straight into the database (SQLite and PostgreSQL), as anyone
holding the database credentials could."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from rendercli.config import get_settings
from rendercli.db.ids import new_id
from rendercli.db.models import Asset, Project
from tests.conftest import Account
from tests.hostile_media import OpenWatch
from tests.media_factory import make_video
from tests.orm import get_session_factory, job_in


def session(database_url: str):  # type: ignore[no-untyped-def]
    return get_session_factory(database_url)()


def storage_dir() -> Path:
    return get_settings().storage_dir


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """Files outside storage that nothing may touch: <tmp>/victim/{a.mp4,b.jpg}."""
    directory = tmp_path / "victim"
    directory.mkdir()
    make_video(directory / "a.mp4", duration=0.5)
    (directory / "b.jpg").write_bytes(b"precious")
    return directory


def relative_to_renders(target: Path) -> str:
    """``target`` as seen from storage/renders, e.g. ../../../victim."""
    return os.path.relpath(target, storage_dir() / "renders")


def relative_to_objects(target: Path) -> str:
    """``target`` as seen from an object's folder, storage/objects/ab."""
    return os.path.relpath(target, storage_dir() / "objects" / "ab")


def project_with_asset(alice: Account, clip: Path, name: str = "film") -> str:
    alice.ok("project", "create", name)
    alice.ok("asset", "add", name, str(clip))
    return name


def project_id(database_url: str, name: str) -> str:
    with session(database_url) as s:
        return s.scalars(select(Project.id).where(Project.name == name)).one()


def insert_job(database_url: str, project: str, job_id: str, **values: object) -> None:
    with session(database_url) as s:
        s.add(job_in(s, project_id(database_url, project), id=job_id,
                        status="completed", preset="480p", format="mp4", fps=10,
                        quality="draft", **values))
        s.commit()


def one_error_line(result, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr, result.stderr


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clip.mp4", duration=0.5)


@pytest.mark.parametrize("hostile", ["escape", "*", "[a-z]*", "a?*", "UPPER"])
def test_project_delete_refuses_a_hostile_job_id(
    alice: Account, database_url: str, clip: Path, victim: Path, hostile: str
) -> None:
    name = project_with_asset(alice, clip)
    # Another job's render inside storage: a glob like "*" would have taken it too.
    renders = storage_dir() / "renders"
    renders.mkdir(parents=True, exist_ok=True)
    other = renders / f"{new_id()}.mp4"
    other.write_bytes(b"someone else's render")
    job_id = relative_to_renders(victim) + "/*" if hostile == "escape" else hostile
    # The database refuses such an id (migration 0009)...
    with pytest.raises(IntegrityError):
        insert_job(database_url, name, job_id)
    # ...so only its owner, with the check taken off, can make one: the files are still
    # confined if one gets there.
    with session(database_url) as s:
        s.execute(text("PRAGMA ignore_check_constraints = ON") if database_url.startswith(
            "sqlite") else text("ALTER TABLE render_jobs DROP CONSTRAINT "
                                "ck_render_jobs_id_shape"))
        s.add(job_in(s, project_id(database_url, name), id=job_id,
                        status="completed", preset="480p", format="mp4", fps=10,
                        quality="draft"))
        s.commit()

    result = alice("project", "delete", name, "--yes")

    assert result.exit_code == 1
    one_error_line(result, "refusing job id")
    assert sorted(p.name for p in victim.iterdir()) == ["a.mp4", "b.jpg"]
    assert other.exists()
    # Nothing was deleted: the project and its asset are still there.
    listed = json.loads(alice.ok("asset", "list", name, "--json").stdout)
    assert len(listed["assets"]) == 1


@pytest.mark.parametrize("key", ["../x", "escape", "*", "A" * 64])
def test_asset_remove_refuses_a_hostile_storage_key(
    alice: Account, database_url: str, clip: Path, victim: Path, key: str
) -> None:
    name = project_with_asset(alice, clip)
    # (a path that climbs out of storage: the hash column, which must equal the key,
    # holds 64 characters)
    hostile = relative_to_objects(victim / "a.mp4") if key == "escape" else key
    with session(database_url) as s:
        asset_id = s.scalars(select(Asset.id)).one()
        s.execute(update(Asset).values(storage_key=hostile, sha256=hostile))
        s.commit()

    result = alice("asset", "remove", asset_id)

    assert result.exit_code == 1
    one_error_line(result, "refusing storage key")
    assert sorted(p.name for p in victim.iterdir()) == ["a.mp4", "b.jpg"]
    assert len(json.loads(alice.ok("asset", "list", name, "--json").stdout)["assets"]) == 1


def test_project_delete_refuses_a_hostile_storage_key(
    alice: Account, database_url: str, clip: Path, victim: Path
) -> None:
    name = project_with_asset(alice, clip)
    with session(database_url) as s:
        hostile = relative_to_objects(victim / "a.mp4")
        s.execute(update(Asset).values(storage_key=hostile, sha256=hostile))
        s.commit()
    result = alice("project", "delete", name, "--yes")
    assert result.exit_code == 1
    one_error_line(result, "refusing storage key")
    assert (victim / "a.mp4").exists()
    alice.ok("project", "show", name)


@pytest.mark.parametrize("how", ["key", "symlink"])
def test_render_never_reads_outside_storage(
    alice: Account, database_url: str, clip: Path, victim: Path, how: str
) -> None:
    """A storage key that climbs out, or an object that is a symlink to a file outside
    storage: the render is refused with one line and the outside file is never opened."""
    name = project_with_asset(alice, clip)
    target = victim / "a.mp4"
    with session(database_url) as s:
        asset = s.scalars(select(Asset)).one()
        if how == "key":
            asset.storage_key = asset.sha256 = relative_to_renders(target)
        else:
            obj = storage_dir() / "objects" / asset.storage_key[:2] / asset.storage_key
            obj.unlink()
            obj.symlink_to(target)
        s.commit()

    with OpenWatch(target) as watch:
        result = alice("render", "submit", name)
        assert not watch.opened()
    assert result.exit_code == 1
    one_error_line(result, "refusing")
    assert json.loads(alice.ok("jobs", "list", "--json").stdout) == []  # no job created


@pytest.mark.parametrize("where", ["outside", "other-job", "not-file"])
def test_a_hostile_output_url_is_never_shown_or_downloaded(
    alice: Account, database_url: str, clip: Path, victim: Path, tmp_path: Path, where: str
) -> None:
    from rendercli.cli.renders import finish
    from rendercli.errors import OperationFailed
    from rendercli.services.accounts import authenticate
    from rendercli.services.renders import views
    from rendercli.services.unit_of_work import UnitOfWork

    name = project_with_asset(alice, clip)
    job_id = new_id()
    renders = storage_dir() / "renders"
    renders.mkdir(parents=True, exist_ok=True)
    url = {
        "outside": (victim / "a.mp4").as_uri(),
        "other-job": (renders / f"{new_id()}.mp4").resolve().as_uri(),
        "not-file": f"https://example.com/{job_id}.mp4",
    }[where]
    insert_job(database_url, name, job_id, output_url=url, output_size=8)

    shown = json.loads(alice.ok("jobs", "status", job_id, "--json").stdout)
    assert shown["output_path"] is None
    assert "not its file in storage" in shown["error"]

    target = tmp_path / "download.mp4"
    user = authenticate(UnitOfWork(), alice.token)
    with OpenWatch(victim / "a.mp4") as watch:
        with pytest.raises(OperationFailed):
            finish(views.get(UnitOfWork(token=alice.token), user.id, job_id), target, False)
        assert not watch.opened()
    assert not target.exists()


def test_the_jobs_own_output_is_shown(alice: Account, database_url: str, clip: Path) -> None:
    name = project_with_asset(alice, clip)
    job_id = new_id()
    output = storage_dir() / "renders" / f"{job_id}.mp4"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(b"video")
    insert_job(database_url, name, job_id, output_url=output.resolve().as_uri())
    shown = json.loads(alice.ok("jobs", "status", job_id, "--json").stdout)
    assert shown["output_path"] == str(output) and shown["error"] is None


def test_project_delete_removes_its_own_renders(
    alice: Account, database_url: str, clip: Path
) -> None:
    name = project_with_asset(alice, clip)
    job_id = new_id()
    renders = storage_dir() / "renders"
    renders.mkdir(parents=True, exist_ok=True)
    mine = [renders / f"{job_id}.mp4", renders / f"{job_id}.jpg"]
    for path in mine:
        path.write_bytes(b"x")
    other = renders / f"{job_id}x.mp4"  # a prefix match is not ours
    other.write_bytes(b"x")
    insert_job(database_url, name, job_id)
    alice.ok("project", "delete", name, "--yes")
    assert not any(p.exists() for p in mine) and other.exists()


# --- embedded data is private ---------------------------------------------------------------


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


@pytest.fixture
def usual_umask():  # type: ignore[no-untyped-def]
    previous = os.umask(0o022)  # the common default, under which files come out 0644
    yield
    os.umask(previous)


def test_a_fresh_embedded_data_dir_is_private(cli, tmp_path: Path, usual_umask) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import TEST_PASSWORD

    data, config = tmp_path / "data", tmp_path / "config"
    assert not data.exists() and not config.exists()
    cli.ok("register", "--email", "ana@example.com", "--password-stdin",
           input=TEST_PASSWORD + "\n")
    cli.ok("login", "--email", "ana@example.com", "--password-stdin", "--insecure-storage",
           input=TEST_PASSWORD + "\n")
    cli.ok("project", "create", "film")
    cli.ok("asset", "add", "film", str(make_video(tmp_path / "a.mp4", duration=0.5)))

    assert mode(data) == 0o700 and mode(config) == 0o700
    assert mode(data / "rendercli.db") == 0o600
    for extra in ("rendercli.db-wal", "rendercli.db-shm"):
        if (data / extra).exists():
            assert mode(data / extra) == 0o600, extra
    assert mode(config / "credentials.json") == 0o600
    assert (data / "storage" / "objects").is_dir()  # storage lives inside the 0700 dir


def test_the_demo_media_dir_is_made_private(tmp_path: Path, usual_umask) -> None:  # type: ignore[no-untyped-def]
    from rendercli.app import App
    from rendercli.services.demo import samples_dir

    assert samples_dir(App.from_environment().settings.data_dir).parent == tmp_path / "data"
    assert mode(tmp_path / "data") == 0o700


def test_a_shared_storage_dir_keeps_the_mode_its_admin_gave(
    alice: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usual_umask
) -> None:
    shared = tmp_path / "farm-storage"
    shared.mkdir()
    os.chmod(shared, 0o2775)  # group-shared, setgid: the admin's choice
    monkeypatch.setenv("RENDERCLI_STORAGE_DIR", str(shared))
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(make_video(tmp_path / "a.mp4", duration=0.5)))
    assert os.stat(shared).st_mode & 0o7777 == 0o2775
    assert any((shared / "objects").rglob("*"))
