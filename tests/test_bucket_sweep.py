"""Housekeeping in a bucket (a real S3 HTTP API, moto's server mode): the workers' orphan
sweep reads one bounded page per step, deletes only on the worker role's answer and only
objects unreferenced at two steps, and deleting a project removes what nothing else uses."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from rendercli.config import read_settings
from rendercli.objectstore import open_store
from rendercli.services.unit_of_work import UnitOfWork
from rendercli.services.upkeep import bucket_sweep
from tests.conftest import Account, S3Storage
from tests.media_factory import make_image, make_video


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sweep-media")
    return {"a": make_video(d / "a.mp4", duration=0.5), "still": make_image(d / "s.png")}


def orphans(s3: S3Storage, count: int) -> list[str]:
    """Objects put in the bucket that no asset references (hash-named, valid names)."""
    keys = []
    for _ in range(count):
        data = os.urandom(64)
        key = hashlib.sha256(data).hexdigest()
        s3.put(f"objects/{key}", data)
        keys.append(key)
    return keys


def worker_setup(tmp_path: Path, **extra: str):  # type: ignore[no-untyped-def]
    settings = read_settings({**os.environ, "RENDERCLI_STORAGE_DIR": str(tmp_path / "worker"),
                              "RENDERCLI_ORPHAN_GRACE": "0", **extra}).for_worker()
    return settings, UnitOfWork(settings=settings), open_store(settings)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_sweep_step_reads_one_page_and_deletes_only_twice_unreferenced_objects(
        s3_storage: S3Storage, alice: Account, media: dict[str, Path], tmp_path: Path) -> None:
    alice.ok("project", "create", "kept")
    alice.ok("asset", "add", "kept", str(media["a"]))
    used = hashlib.sha256(media["a"].read_bytes()).hexdigest()
    lost = orphans(s3_storage, 5)
    s3_storage.put(f"segments/{'0' * 64}.json", b"{}")  # a cache entry: not this sweep's
    settings, uow, store = worker_setup(tmp_path)
    state = settings.storage_dir / "tmp" / bucket_sweep.STATE
    all_objects = sorted([used, *lost])
    assert bucket_sweep.PAGE == 1000  # one ListObjectsV2 page, the S3 maximum

    # A first round (pages of 4, then the rest): candidates noted, nothing deleted.
    assert bucket_sweep.sweep_bucket_step(settings, uow, store, page=4, now=1e10) == 0
    first = json.loads(state.read_text())
    assert first["after"] == f"objects/{all_objects[3]}"  # one page read, cursor kept
    assert bucket_sweep.sweep_bucket_step(settings, uow, store, page=4, now=1e10 + 1) == 0
    second = json.loads(state.read_text())
    assert second["after"] == "" and set(second["seen"]) == set(lost)  # wrapped around
    in_bucket = s3_storage.keys()
    assert all(f"objects/{k}" in in_bucket for k in all_objects)

    # The second round deletes what was unreferenced at both steps, nothing else.
    removed = sum(bucket_sweep.sweep_bucket_step(settings, uow, store, page=4,
                                                 now=1e10 + 2 + n) or 0 for n in range(2))
    assert removed == 5
    left = s3_storage.keys()
    assert left == sorted([f"objects/{used}", f"segments/{'0' * 64}.json"])
    log = (settings.storage_dir / "deletions.log").read_text().splitlines()
    assert len(log) == 5 and all("bucket orphan sweep" in line for line in log)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_sweep_without_the_worker_roles_answer_deletes_nothing(
        s3_storage: S3Storage, alice: Account, tmp_path: Path) -> None:
    lost = orphans(s3_storage, 3)
    settings = read_settings({**os.environ, "RENDERCLI_STORAGE_DIR": str(tmp_path / "c"),
                              "RENDERCLI_ORPHAN_GRACE": "0"})  # the client's login
    uow, store = UnitOfWork(settings=settings, token=alice.token), open_store(settings)
    for step in range(4):
        assert bucket_sweep.sweep_bucket_step(settings, uow, store, now=1e10 + step) is None
    assert s3_storage.keys() == sorted(f"objects/{k}" for k in lost)
    assert not (settings.storage_dir / "deletions.log").exists()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_fresh_upload_is_not_swept_within_the_grace(
        s3_storage: S3Storage, alice: Account, tmp_path: Path) -> None:
    lost = orphans(s3_storage, 2)
    settings, uow, store = worker_setup(tmp_path, RENDERCLI_ORPHAN_GRACE="900")
    import time

    for step in range(3):
        assert bucket_sweep.sweep_bucket_step(settings, uow, store,
                                              now=time.time() + step) == 0
    assert s3_storage.keys() == sorted(f"objects/{k}" for k in lost)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_deleted_projects_media_leave_the_bucket_by_the_workers_sweep(
        s3_storage: S3Storage, alice: Account, media: dict[str, Path], tmp_path: Path) -> None:
    for name in ("one", "two"):
        alice.ok("project", "create", name)
    alice.ok("asset", "add", "one", str(media["a"]), str(media["still"]), "--duration", "1")
    alice.ok("asset", "add", "two", str(media["a"]))
    clip, still = (hashlib.sha256(media[k].read_bytes()).hexdigest() for k in ("a", "still"))
    job = json.loads(alice.ok("render", "submit", "one", "--preset", "480p", "--fps", "10",
                              "--quality", "draft", "--json").stdout)
    in_bucket = s3_storage.keys()
    assert f"outputs/{job['id']}.mp4" in in_bucket
    alice.ok("project", "delete", "one", "--yes")
    left = s3_storage.keys()
    assert not [k for k in left if k.startswith(f"outputs/{job['id']}")]  # the job's own
    # Media stay until a worker's sweep has found them unreferenced twice, a grace apart
    # (another machine may be adding the same content right now).
    assert {f"objects/{clip}", f"objects/{still}"} <= set(left)
    settings, uow, store = worker_setup(tmp_path)
    for step in range(2):
        bucket_sweep.sweep_bucket_step(settings, uow, store, now=1e10 + step)
    left = s3_storage.keys()
    assert f"objects/{clip}" in left  # project two still uses it
    assert f"objects/{still}" not in left
    assert [k for k in left if k.startswith("segments/")]  # the cache stays (recipe-keyed)
