"""A storage that cannot take writes (mounted read-only, or full): one clear line, exit 1,
and no job row left behind by `render submit` (issue 19). Uses a real tmpfs mount, so it
needs root (as the CI and the dev machines have)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Account
from tests.media_factory import make_image, make_video
from tests.terminal import rendercli_executable


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 4 MiB tmpfs as the storage directory's filesystem."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    monkeypatch.setenv("RENDERCLI_STORAGE_DIR", str(mount / "storage"))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def make_unwritable(mount: Path, how: str) -> str:
    """Remount read-only, or fill the disk; the strerror the storage will answer with."""
    if how == "read-only":
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        return "Read-only file system"
    with open(mount / "filler", "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    return "No space left on device"


@pytest.mark.parametrize("how", ["read-only", "full"])
def test_an_unwritable_storage_is_one_line_and_no_job(
    alice: Account, database_url: str, small_disk: Path, tmp_path: Path, how: str,
) -> None:
    alice.ok("project", "create", "film")
    # In a process of its own: nothing of this one stays open on the disk (a file open for
    # writing would keep it from being remounted read-only).
    subprocess.run([rendercli_executable(), "asset", "add", "film",
                    str(make_video(tmp_path / "a.mp4", duration=0.5))],
                   env={**os.environ, "RENDERCLI_TOKEN": alice.token}, check=True,
                   capture_output=True)
    strerror = make_unwritable(small_disk, how)

    result = alice("render", "submit", "film")

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write to storage: {strerror}: {small_disk / 'storage' / 'tmp'}\n")
    assert json.loads(alice.ok("jobs", "list", "--json").stdout) == []

    added = alice("asset", "add", "film", str(make_image(tmp_path / "b.png")))
    assert added.exit_code == 1
    assert added.stderr.startswith("error: cannot write") and strerror in added.stderr
    assert added.stderr.count("\n") == 1 and "unexpected" not in added.stderr
