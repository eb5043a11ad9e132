"""Files named by a spec: opened as validated, hashed once while unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from rendercli.errors import InvalidInput
from rendercli.media.hash_memo import HashMemo
from rendercli.services.specs import files
from rendercli.services.specs.files import file_facts, open_validated


def test_an_unchanged_file_is_not_hashed_again(tmp_path: Path, monkeypatch) -> None:
    clip = tmp_path / "clip.bin"
    clip.write_bytes(b"x" * 100_000)
    cache = HashMemo(tmp_path / "cache" / "hashes.sqlite3")
    first = file_facts(clip, "clip.bin", cache)
    assert first.hashed and first.sha256 == hashlib.sha256(b"x" * 100_000).hexdigest()
    reads: list[int] = []
    real_hash = files.hash_fd
    monkeypatch.setattr(files, "hash_fd", lambda fd: reads.append(fd) or real_hash(fd))
    again = file_facts(clip, "clip.bin", cache)
    assert (again.hashed, again.sha256, reads) == (False, first.sha256, [])
    # A new process (a new cache connection) remembers it too.
    cache.close()
    assert not file_facts(clip, "clip.bin", HashMemo(tmp_path / "cache" / "hashes.sqlite3")).hashed
    assert (os.stat(tmp_path / "cache").st_mode & 0o777) == 0o700


def test_a_rewritten_file_is_hashed_even_with_its_old_size_and_mtime(tmp_path: Path) -> None:
    clip = tmp_path / "clip.bin"
    clip.write_bytes(b"a" * 1000)
    cache = HashMemo(tmp_path / "hashes.sqlite3")
    before = os.stat(clip)
    old = file_facts(clip, "clip.bin", cache).sha256
    clip.write_bytes(b"b" * 1000)  # same size
    os.utime(clip, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime: ctime moves
    new = file_facts(clip, "clip.bin", cache)
    assert new.hashed and new.sha256 != old
    assert new.sha256 == hashlib.sha256(b"b" * 1000).hexdigest()


def test_a_broken_cache_only_means_hashing(tmp_path: Path) -> None:
    clip = tmp_path / "clip.bin"
    clip.write_bytes(b"c" * 10)
    (tmp_path / "cache").write_text("not a directory")
    cache = HashMemo(tmp_path / "cache" / "hashes.sqlite3")
    assert file_facts(clip, "clip.bin", cache).hashed
    assert file_facts(clip, "clip.bin", cache).hashed


def test_a_symlink_swapped_in_after_validation_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    folder = tmp_path / "spec"
    folder.mkdir()
    clip = folder / "clip.mp4"
    clip.write_bytes(b"video")
    validated = clip.resolve()
    clip.unlink()
    clip.symlink_to(secret)  # the swap
    with pytest.raises(InvalidInput, match="became a symbolic link"), \
            open_validated(validated, "clip.mp4"):
        pass
    # A folder on the way swapped for a link elsewhere: the open file's real path differs.
    clip.unlink()
    inner = folder / "media"
    (tmp_path / "real-media").mkdir()
    (tmp_path / "real-media" / "c.mp4").write_bytes(b"v")
    inner.mkdir()
    (inner / "c.mp4").write_bytes(b"v")
    checked = (inner / "c.mp4").resolve()
    (inner / "c.mp4").unlink()
    inner.rmdir()
    inner.symlink_to(tmp_path / "real-media")
    with pytest.raises(InvalidInput, match="folder changed"), \
            open_validated(checked, "media/c.mp4"):
        pass
