"""The read-through cache of bucket objects in a storage directory: verified before it is
visible, fetched once per machine, bounded with least-recently-used eviction that spares
what is in use and what the bucket does not hold. Real processes, a real S3 HTTP API."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rendercli.config import read_settings
from rendercli.objectstore import local_path, object_name, open_store
from rendercli.objectstore.s3 import S3Store
from tests.conftest import S3Storage

FETCH = """
import sys
from rendercli.config import read_settings
from rendercli.objectstore import open_store
print(open_store(read_settings()).localize(sys.argv[1]), flush=True)
"""


def store_at(s3: S3Storage, storage_dir: Path, **extra: str) -> S3Store:
    store = open_store(read_settings({**s3.env(), "RENDERCLI_STORAGE_DIR": str(storage_dir),
                                      **extra}))
    assert isinstance(store, S3Store)
    return store


def put_object(s3: S3Storage, data: bytes) -> str:
    name = object_name(hashlib.sha256(data).hexdigest())
    s3.put(name, data)
    return name


def fetcher(s3: S3Storage, storage_dir: Path, name: str) -> subprocess.Popen[str]:
    env = {**os.environ, **s3.env(), "RENDERCLI_STORAGE_DIR": str(storage_dir)}
    return subprocess.Popen([sys.executable, "-c", FETCH, name], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def gets(caplog: pytest.LogCaptureFixture, s3: S3Storage, name: str) -> int:
    """GET requests for ``name`` the test server answered (its request log)."""
    wanted = f'"GET /{s3.bucket}/{s3.prefix}{name} '
    return sum(wanted in record.getMessage() for record in caplog.records)


def test_two_processes_fetch_one_object_once(s3_storage: S3Storage, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    if s3_storage.server.external:
        pytest.skip("counts requests in the test server's own log")
    caplog.set_level(logging.INFO, logger="werkzeug")
    data = os.urandom(24 * 1024 * 1024)
    name = put_object(s3_storage, data)
    machine = tmp_path / "machine"

    procs = [fetcher(s3_storage, machine, name) for _ in range(2)]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    final = local_path(machine, name)
    assert {out.strip() for out, _err in outs} == {str(final)}
    assert final.read_bytes() == data
    assert gets(caplog, s3_storage, name) == 1
    # A third use on the machine fetches nothing either.
    assert store_at(s3_storage, machine).localize(name) == final
    assert gets(caplog, s3_storage, name) == 1


def test_killed_fetch_leaves_nothing_under_the_final_name(s3_storage: S3Storage,
                                                          tmp_path: Path) -> None:
    data = os.urandom(96 * 1024 * 1024)
    name = put_object(s3_storage, data)
    machine = tmp_path / "machine"
    final = local_path(machine, name)
    proc = fetcher(s3_storage, machine, name)
    tmp = machine / "tmp"

    def partial() -> list[Path]:  # tmp/stage-<owner tag>-<random>-fetch-<file name>
        return [p for p in tmp.iterdir() if p.name.endswith(f"-fetch-{final.name}")] if (
            tmp.is_dir()) else []

    deadline = time.monotonic() + 60
    while not partial():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.001)
    proc.kill()  # SIGKILL mid-download
    proc.wait(10)
    assert not final.exists() and not (final.parent.is_dir() and any(final.parent.iterdir()))
    assert partial() and all(p.stat().st_size < len(data) for p in partial())
    # Owner-tagged: the temp sweep removes it now that its process is dead.
    from rendercli.storage import clean_temp_files

    assert clean_temp_files(machine) >= 1 and not partial()
    # The next fetch (its lock died with the process) gets the whole, verified object.
    assert store_at(s3_storage, machine).localize(name).read_bytes() == data
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_least_recently_used_go_first_but_not_in_use_or_unpublished(
        s3_storage: S3Storage, tmp_path: Path) -> None:
    size = 100_000
    machine = tmp_path / "machine"
    store = store_at(s3_storage, machine, RENDERCLI_CACHE_LIMIT=str(int(size * 2.5)))
    a, b, c, d, e = (put_object(s3_storage, os.urandom(size)) for _ in range(5))

    def cached() -> set[str]:
        return {n for n in (a, b, c, d, e) if local_path(machine, n).exists()}

    store.localize(a)
    store.localize(b)
    store.localize(a)  # a used again: b is now the least recently used
    time.sleep(0.01)
    store.localize(c)
    assert cached() == {a, c}
    with store.localized({c: None}):  # c in use: d evicts a, e evicts d, not c
        store.localize(d)
        assert cached() == {c, d}
        store.localize(e)
        assert cached() == {c, e}
    # A file the bucket does not hold (this copy may be the only one) is never evicted.
    only_here = local_path(machine, object_name(hashlib.sha256(b"x" * size).hexdigest()))
    only_here.parent.mkdir(parents=True, exist_ok=True)
    only_here.write_bytes(b"x" * size)
    os.utime(only_here, (1, 1))  # the oldest of all
    store.localize(a)
    assert only_here.exists() and local_path(machine, a).exists()
