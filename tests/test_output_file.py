"""`--output` only ever writes a regular file: FIFOs, devices, directories and symlinks are
refused (exit 2) and left exactly as they were, before the render and at the moment of writing.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rendercli.db.models import RenderJob
from tests.conftest import Account
from tests.media_factory import make_image
from tests.orm import get_session_factory

pytestmark = pytest.mark.any_database  # see tests/conftest.py

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]


def job_count(url: str) -> int:
    with get_session_factory(url)() as session:
        return session.scalar(select(func.count()).select_from(RenderJob)) or 0


@pytest.fixture
def project(alice: Account, tmp_path: Path) -> str:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(make_image(tmp_path / "still.png")), "--duration", "0.5")
    return "film"


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_symlink_to_file(path: Path) -> None:
    real = path.with_name("real.mp4")
    real.write_bytes(b"precious")
    path.symlink_to(real)


def make_dangling_symlink(path: Path) -> None:
    path.symlink_to(path.with_name("nowhere.mp4"))


def make_char_device(path: Path) -> None:
    # A /dev/null twin (major 1, minor 3): what `--output /dev/null` as root would replace.
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root here")


def make_directory(path: Path) -> None:
    path.mkdir()


KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (make_fifo, "a FIFO"),
    "symlink": (make_symlink_to_file, "a symlink"),
    "dangling-symlink": (make_dangling_symlink, "a symlink"),
    "char-device": (make_char_device, "a character device"),
    "directory": (make_directory, "a directory"),
}


def snapshot(path: Path) -> tuple[int, int, int, str | None]:
    info = os.lstat(path)
    link = os.readlink(path) if stat.S_ISLNK(info.st_mode) else None
    return info.st_mode, info.st_ino, info.st_rdev, link


@pytest.mark.parametrize("kind", list(KINDS))
def test_special_target_is_refused_before_the_render(
    alice: Account, project: str, database_url: str, tmp_path: Path, kind: str
) -> None:
    make, described = KINDS[kind]
    target = tmp_path / "out" / "film.mp4"
    target.parent.mkdir()
    make(target)
    before = snapshot(target)
    result = alice("render", "submit", project, *FAST, "--output", str(target))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and described in result.stderr
    assert str(target) in result.stderr
    assert snapshot(target) == before  # untouched
    assert job_count(database_url) == 0  # nothing rendered
    if kind == "symlink":
        assert (tmp_path / "out" / "real.mp4").read_bytes() == b"precious"
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        {"film.mp4", *(["real.mp4"] if kind == "symlink" else [])})


@pytest.mark.parametrize("kind", ["fifo", "symlink", "char-device"])
def test_target_that_changes_during_the_render_is_left_alone(
    alice: Account, project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from rendercli.cli import renders

    make, described = KINDS[kind]
    target = tmp_path / "out" / "film.mp4"
    target.parent.mkdir()
    real_run_inline = renders.run_inline

    def render_then_swap(*args, **kwargs):  # type: ignore[no-untyped-def]
        view = real_run_inline(*args, **kwargs)  # the real render, to the end
        make(target)  # someone puts a special file there meanwhile
        return view

    monkeypatch.setattr(renders, "run_inline", render_then_swap)
    result = alice("render", "submit", project, *FAST, "--output", str(target), "--json")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert described in result.stderr and "changed while rendering" in result.stderr
    assert not stat.S_ISREG(os.lstat(target).st_mode)
    if kind == "symlink":
        assert (tmp_path / "out" / "real.mp4").read_bytes() == b"precious"
    leftovers = [p.name for p in target.parent.iterdir() if p.name.endswith(".part")]
    assert leftovers == []
    [job] = json.loads(alice.ok("jobs", "list", "--json").stdout)
    assert job["status"] == "completed"  # the render itself is kept in storage


def test_an_existing_regular_file_is_replaced_with_force(alice: Account, project: str,
                                                         tmp_path: Path) -> None:
    target = tmp_path / "film.mp4"
    target.write_bytes(b"old")
    job = json.loads(alice.ok("render", "submit", project, *FAST, "--output", str(target),
                              "--force", "--json").stdout)
    assert target.read_bytes() == Path(job["output_path"]).read_bytes()
    assert stat.S_ISREG(os.lstat(target).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_publish_is_the_one_writer_and_checks_at_write_time(tmp_path: Path) -> None:
    from rendercli.cli import output_file
    from rendercli.errors import InvalidInput

    source = tmp_path / "render.mp4"
    source.write_bytes(b"video")
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match="a FIFO"):
        output_file.publish(str(source), fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    fresh = tmp_path / "new.mp4"
    output_file.publish(str(source), fresh)
    assert fresh.read_bytes() == b"video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.mp4", "pipe.mp4", "render.mp4"]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_farm_wait_output_refuses_special_targets(
    alice: Account, project: str, database_url: str, farm, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rendercli.cli import renders

    farm.start_worker("w-out", via="rendercli")
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    refused = alice("render", "submit", project, *FAST, "--wait", "--output", str(fifo))
    assert refused.exit_code == 2 and "a FIFO" in refused.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert job_count(database_url) == 0

    # The same check at write time: the target becomes a symlink while the worker renders.
    target = tmp_path / "out" / "film.mp4"
    target.parent.mkdir()
    real_wait = renders.wait_in_farm

    def wait_then_swap(*args, **kwargs):  # type: ignore[no-untyped-def]
        view = real_wait(*args, **kwargs)
        make_symlink_to_file(target)
        return view

    monkeypatch.setattr(renders, "wait_in_farm", wait_then_swap)
    result = alice("render", "submit", project, *FAST, "--wait", "--output", str(target))
    assert result.exit_code == 2, (result.stderr, farm.logs())
    assert "a symlink" in result.stderr and "changed while rendering" in result.stderr
    assert os.path.islink(target) and (tmp_path / "out" / "real.mp4").read_bytes() == b"precious"
