"""Content-addressed storage and the stage -> probe -> commit ingest flow."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from rendercli.errors import InvalidInput
from rendercli.media.ingest import (
    Limits,
    commit_all,
    rollback_created,
    stage_and_probe,
    stage_and_probe_all,
    stage_file,
    store_file,
)
from rendercli.storage import (
    OBJECTS_DIR,
    TMP_DIR,
    TMP_PREFIX,
    StoredFile,
    clean_temp_files,
    commit_staged,
    discard_staged,
    object_path,
    remove_object,
)
from tests.hostile_media import IN_OPEN, OpenWatch, hls_playlist, write_bytes
from tests.media_factory import make_image, make_video

LIMITS = Limits(max_file_size=50_000_000, max_duration=60.0, max_dimension=8192)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def objects(storage: Path) -> list[Path]:
    root = storage / OBJECTS_DIR
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def temp_files(storage: Path) -> list[Path]:
    """Staged copies and work directories (not the owner lock files beside them)."""
    root = storage / TMP_DIR
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith((TMP_PREFIX, "render-")))


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "storage"


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_video(tmp_path / "Clip.MP4", duration=0.5)


def test_store_file_copies_hashes_and_places_atomically(storage: Path, clip: Path) -> None:
    stored = store_file(clip, storage)
    expected = sha256_of(clip)
    assert stored.sha256 == expected == stored.key
    assert stored.size == clip.stat().st_size
    assert stored.created is True
    assert stored.path == storage / "objects" / expected[:2] / expected
    assert stored.path == object_path(storage, stored.key)
    assert stored.path.read_bytes() == clip.read_bytes()
    assert not stat.S_IMODE(stored.path.stat().st_mode) & 0o222  # immutable
    assert objects(storage) == [stored.path]
    assert temp_files(storage) == []  # the temporary name was renamed away


def test_same_content_is_stored_once(storage: Path, clip: Path, tmp_path: Path) -> None:
    copy = tmp_path / "other-name.mov"
    copy.write_bytes(clip.read_bytes())
    first = store_file(clip, storage)
    second = store_file(copy, storage)
    assert first.created and not second.created
    assert first.path == second.path and first.key == second.key
    assert objects(storage) == [first.path]
    assert temp_files(storage) == []


def commit_together(staged: list) -> list:  # type: ignore[type-arg]
    """commit_staged on every staged copy, each in its own thread, all at the same instant."""
    barrier = threading.Barrier(len(staged))
    results: list = [None] * len(staged)

    def commit(i: int) -> None:
        barrier.wait()
        try:
            results[i] = commit_staged(staged[i])
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(len(staged))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_racing_stores_of_same_content_create_it_once(tmp_path: Path, clip: Path) -> None:
    # Concurrent `asset add` commands of the same file: exactly one may believe it
    # created the object (the others' rollbacks must not delete it).
    for attempt in range(10):
        storage = tmp_path / f"storage-{attempt}"
        staged = [stage_file(clip, storage) for _ in range(8)]
        assert len({s.path for s in staged}) == 8
        results = commit_together(staged)
        assert all(isinstance(r, StoredFile) for r in results), results
        assert sum(r.created for r in results) == 1
        assert {r.path for r in results} == {object_path(storage, staged[0].sha256)}
        assert results[0].path.read_bytes() == clip.read_bytes()
        assert objects(storage) == [results[0].path] and temp_files(storage) == []


def test_different_content_gets_different_objects(storage: Path, tmp_path: Path) -> None:
    one = store_file(write_bytes(tmp_path / "a.bin", b"one"), storage)
    two = store_file(write_bytes(tmp_path / "b.bin", b"two"), storage)
    assert one.sha256 == hashlib.sha256(b"one").hexdigest()
    assert two.sha256 == hashlib.sha256(b"two").hexdigest()
    assert len(objects(storage)) == 2


def test_objects_have_no_extension(storage: Path, clip: Path) -> None:
    stored = store_file(clip, storage)
    assert stored.path.suffix == "" and stored.path.name == stored.sha256


def test_damaged_existing_object_is_replaced(storage: Path, clip: Path) -> None:
    stored = store_file(clip, storage)
    stored.path.chmod(0o644)
    stored.path.write_bytes(b"half")
    again = store_file(clip, storage)
    assert not again.created
    assert again.path.read_bytes() == clip.read_bytes()


def test_an_existing_object_with_other_bytes_of_the_same_size_is_repaired(
        storage: Path, clip: Path) -> None:
    stored = store_file(clip, storage)
    stored.path.chmod(0o644)
    stored.path.write_bytes(bytes(len(clip.read_bytes())))
    again = store_file(clip, storage)
    assert not again.created
    assert again.path.read_bytes() == clip.read_bytes()


def test_staged_copy_is_discarded_and_nothing_is_left(storage: Path, clip: Path) -> None:
    staged = stage_file(clip, storage)
    assert staged.path.parent == storage / TMP_DIR
    assert staged.path.read_bytes() == clip.read_bytes()
    assert staged.sha256 == sha256_of(clip) and staged.size == clip.stat().st_size
    discard_staged(staged)
    discard_staged(staged)  # idempotent
    assert temp_files(storage) == [] and objects(storage) == []


def test_size_limit_is_checked_before_copying(storage: Path, clip: Path) -> None:
    with pytest.raises(InvalidInput, match=r"^Clip\.MP4: file is .* above the 1\.0 kB limit$"):
        stage_file(clip, storage, max_file_size=1000)
    assert temp_files(storage) == []


def test_size_limit_is_enforced_while_staging(
    storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that passes the size check and then grows is stopped by the copy itself."""
    import rendercli.media.ingest

    growing = write_bytes(tmp_path / "growing.mp4", b"x" * 900)
    checked = rendercli.media.ingest.open_regular_file

    def check_then_grow(path: Path, **kwargs: object) -> tuple[int, int]:
        opened = checked(path, **kwargs)  # type: ignore[arg-type]
        with growing.open("ab") as f:  # another process appends after the check
            f.write(b"y" * 5000)
        return opened

    monkeypatch.setattr(rendercli.media.ingest, "open_regular_file", check_then_grow)
    larger = r"^growing\.mp4: file is larger than the 1\.0 kB limit$"
    with pytest.raises(InvalidInput, match=larger):
        stage_file(growing, storage, max_file_size=1000)
    assert temp_files(storage) == [] and objects(storage) == []


@pytest.mark.parametrize("name", [b"-rf.mp4", b"new\nline.mp4", b"\xff\xfe bytes.mp4"])
def test_hostile_source_names_are_stored(storage: Path, clip: Path, name: bytes) -> None:
    weird = Path(os.fsdecode(os.path.join(os.fsencode(clip.parent), name)))
    weird.write_bytes(clip.read_bytes())
    stored = store_file(weird, storage)
    assert stored.sha256 == sha256_of(clip)
    assert stored.path.name == stored.sha256  # the name never reaches storage


def test_missing_source_message(storage: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"^nope\.mp4: no such file$"):
        stage_file(tmp_path / "nope.mp4", storage)
    assert temp_files(storage) == []


def test_object_path_refuses_malformed_keys(storage: Path) -> None:
    for key in ("../../etc/passwd", "ab", "A" * 64, "g" * 64, "a" * 63, "a" * 65):
        with pytest.raises(ValueError, match="not a storage key"):
            object_path(storage, key)


def test_remove_object(storage: Path, clip: Path) -> None:
    stored = store_file(clip, storage)
    assert remove_object(storage, stored.key, reason="test") is True
    assert not stored.path.exists()
    assert remove_object(storage, stored.key, reason="test") is False


def test_clean_temp_files_removes_only_stale_ones(storage: Path) -> None:
    tmp = storage / TMP_DIR
    tmp.mkdir(parents=True)
    stale = write_bytes(tmp / f"{TMP_PREFIX}1-old", b"x")
    fresh = write_bytes(tmp / f"{TMP_PREFIX}2-new", b"y")
    other = write_bytes(tmp / "not-ours", b"z")
    old = time.time() - 3 * 24 * 3600
    os.utime(stale, (old, old))
    assert clean_temp_files(storage) == 1
    assert not stale.exists() and fresh.exists() and other.exists()
    assert clean_temp_files(storage, older_than=0) == 1
    assert not fresh.exists()
    assert clean_temp_files(storage / "missing") == 0


# --- stage -> probe -> commit ------------------------------------------------------------------


def test_source_is_read_once_and_probe_uses_the_staged_copy(storage: Path, clip: Path) -> None:
    with OpenWatch(clip) as watch:
        item = stage_and_probe(clip, storage, LIMITS)
        opens = [m for m in watch.events() if m & IN_OPEN]
        assert len(opens) == 1  # the single copy-while-hashing pass
        stored = commit_staged(item.staged)
        assert watch.events() == []
    assert item.info.kind == "video" and item.display_name == "Clip.MP4"
    assert stored.sha256 == sha256_of(clip) and stored.created


def test_rejected_file_leaves_nothing_in_storage(storage: Path, tmp_path: Path) -> None:
    text = write_bytes(tmp_path / "notes.mp4", b"just some text\n" * 50)
    with pytest.raises(InvalidInput, match=r"^notes\.mp4: not a supported media file"):
        stage_and_probe(text, storage, LIMITS)
    assert temp_files(storage) == [] and objects(storage) == []


def test_hls_playlist_through_ingest(storage: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = make_video(outside / "canary.ts", duration=0.5)
    playlist = hls_playlist(tmp_path / "clip.mp4", canary)
    with OpenWatch(canary) as watch:
        with pytest.raises(InvalidInput, match=r"^clip\.mp4: .*format 'hls' is not allowed"):
            stage_and_probe(playlist, storage, LIMITS)
        assert not watch.opened()
    assert temp_files(storage) == [] and objects(storage) == []


def test_multi_file_add_is_all_or_nothing(storage: Path, clip: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "still.png")
    bad = write_bytes(tmp_path / "bad.mov", b"\x00" * 4096)
    with pytest.raises(InvalidInput, match=r"^bad\.mov: "):
        stage_and_probe_all([clip, image, bad], storage, LIMITS)
    assert temp_files(storage) == [] and objects(storage) == []

    items = stage_and_probe_all([clip, image], storage, LIMITS)
    assert [i.info.kind for i in items] == ["video", "image"]
    stored = commit_all(items)
    assert [s.created for s in stored] == [True, True]
    assert temp_files(storage) == [] and len(objects(storage)) == 2


def test_rollback_removes_only_objects_this_add_created(
    storage: Path, clip: Path, tmp_path: Path
) -> None:
    earlier = store_file(clip, storage)  # referenced by an existing asset
    image = make_image(tmp_path / "still.png")
    stored = commit_all(stage_and_probe_all([clip, image], storage, LIMITS))
    assert [s.created for s in stored] == [False, True]
    rollback_created(stored)  # as after a failed database commit
    assert earlier.path.exists()
    assert not stored[1].path.exists()
    assert objects(storage) == [earlier.path]
