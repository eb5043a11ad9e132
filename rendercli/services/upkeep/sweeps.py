"""The storage sweeps of upkeep, the one home of clean-up: what killed renders and ingests
left behind, objects no asset uses any more, and the files of deleted assets and renders."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rendercli.config import Settings

if TYPE_CHECKING:
    from rendercli.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

_STAMP = "orphans-swept"
_BUCKET_STAMP = "bucket-swept"


def _bucket_step(uow: UnitOfWork) -> int | None:
    """One bounded step of the bucket's orphan sweep (workers only; see bucket_sweep)."""
    from rendercli.objectstore import open_store
    from rendercli.services.upkeep.bucket_sweep import sweep_bucket_step

    try:
        store = open_store(uow.settings)
    except Exception as exc:
        log.warning("bucket orphan sweep skipped: %s", exc)
        return None
    return sweep_bucket_step(uow.settings, uow, store)


def sweep_storage(*, worker: bool = False, force_orphans: bool = False, uow: UnitOfWork) -> int:
    """Remove temp files whose process is gone (at once on this host; after the job
    timeout plus an hour for other hosts' and untagged ones) and, every few minutes,
    objects no asset references, where this process may sweep them (`sweeps_orphans`).
    Returns how many were removed. Storage or database trouble never raises here."""
    from rendercli.storage import clean_temp_files

    settings = uow.settings
    grace = settings.job_timeout + 3600
    removed = clean_temp_files(settings.storage_dir, older_than=grace)
    if sweeps_orphans(settings, worker=worker) and (
            force_orphans or _orphan_sweep_due(settings.storage_dir,
                                               settings.orphan_sweep_interval)):
        removed += sweep_orphans(uow) or 0
    if worker and settings.storage_url is not None and (
            force_orphans or stamp_due(settings.storage_dir / "tmp" / _BUCKET_STAMP,
                                       settings.orphan_sweep_interval)):
        removed += _bucket_step(uow) or 0
    if removed:
        log.info("removed %d leftover files from storage", removed)
    return removed


def sweeps_orphans(settings: Settings, *, worker: bool) -> bool:
    """Who deletes objects no asset references: on SQLite (one user's own file, every
    row visible) any command; on PostgreSQL only workers, whose role alone may ask about
    every account's assets. A client sees only its own, so it never sweeps there."""
    return settings.is_sqlite or worker


def _orphan_sweep_due(storage_dir: Path, interval: float) -> bool:
    return stamp_due(storage_dir / "tmp" / _STAMP, interval)


def stamp_due(stamp: Path, interval: float) -> bool:
    """True (and the stamp renewed) when `stamp` is older than `interval` seconds or
    missing; False when it is fresh or cannot be read or written."""
    try:
        if time.time() - stamp.stat().st_mtime < interval:
            return False
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    except OSError:
        return False
    return True


def database_fingerprint(database_url: str) -> str:
    """Which database a storage directory belongs to: the server and database name,
    never the login (clients, workers and people each have their own), nor the password
    (SQLite: the database file's absolute path)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:{Path(url.database or '').resolve()}"
    return f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"


# Marks written before the login was left out: `backend://login@host:port/name`.
_LOGIN_IN_MARK = re.compile(r"^([a-z][a-z0-9+.-]*://)[^@/]*@")


def same_database(mark: str, fingerprint: str) -> bool:
    """Whether a storage's mark names this database (marks of older versions, which
    named a login too, count for every login of the same database)."""
    return _LOGIN_IN_MARK.sub(r"\1", mark) == fingerprint


def sweep_orphans(uow: UnitOfWork) -> int | None:
    """Delete objects that no asset row references and that are older than
    RENDERCLI_ORPHAN_GRACE; returns how many, or None when nothing was swept.

    Fails closed: nothing is deleted unless every old object's references were answered
    for every account (on PostgreSQL only the worker role gets that answer; any error,
    a client's login or a dead token included, keeps everything). Skipped too while an
    ingest is in flight, or when the storage directory was first used with another
    database: then every object would look unreferenced. Never raises."""
    settings = uow.settings
    try:
        return _sweep_orphans(settings, uow)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("orphan sweep of %s skipped, every object kept: %s",
                    settings.storage_dir, first)
        return None


def _sweep_orphans(settings: Settings, uow: UnitOfWork) -> int | None:
    from rendercli import storage
    from rendercli.db.tenancy import storage_keys_referenced

    directory = settings.storage_dir

    def referenced(keys: list[str]) -> Iterable[str]:
        with uow.fresh() as asking:
            return storage_keys_referenced(asking.rows, keys)

    fingerprint = database_fingerprint(settings.database_url)
    if storage.database_mark(directory) is None:
        # Unmarked (made by an older version): claim it only if this database uses it.
        sample = storage.object_keys(directory, 500)
        if sample and not referenced(sample):
            return None
        storage.mark_database(directory, fingerprint)
    if not same_database(storage.database_mark(directory) or "", fingerprint):
        log.warning("storage %s belongs to another database: unreferenced objects are kept",
                    directory)
        return None
    removed = storage.sweep_orphan_objects(directory, referenced, grace=settings.orphan_grace)
    if removed:
        log.info("orphan sweep removed %d unreferenced objects from %s (see %s)", removed,
                    directory, directory / storage.DELETIONS_LOG)
    return removed


def remove_unreferenced_objects(uow: UnitOfWork, keys: list[str | None], *,
                                reason: str) -> None:
    """Delete stored objects that no asset row refers to any more, asked with the
    caller's token (best effort, fail closed: when the database does not answer, a dead
    token included, every object is kept and the orphan sweep removes it later).
    Malformed keys are never turned into paths; titles have no key (None) and no
    object. ``reason`` goes into the deletion log.

    Only the local copies: in a bucket, another machine may be adding the same content
    at this moment (it found the object and skips its upload), which no lock here can
    see, so the workers' bucket sweep removes them once they stayed unreferenced for the
    grace (bucket_sweep)."""
    from rendercli import storage

    keys = [k for k in keys if k is not None and storage.is_digest(k)]
    if not keys:
        return
    directory = uow.settings.storage_dir
    # No ingest may be between placing an object and committing its row meanwhile.
    with storage.exclusive_objects(directory, wait=2.0) as alone:
        if not alone:
            log.info("an ingest is in flight: unreferenced objects left to the sweep")
            return
        try:
            with uow:
                from rendercli.db.tenancy import storage_keys_in_use

                # Any account's assets: under row security a client sees only its own.
                used = storage_keys_in_use(uow.rows, keys)
        except Exception as exc:
            # Cannot tell: keeping a file is safer than losing one.
            log.info("stored objects kept (left to the orphan sweep): %s", exc)
            return
        for key in sorted(set(keys) - used):
            try:
                storage.remove_object(directory, key, reason=reason)
            except (OSError, ValueError) as exc:  # the row is gone; a stray file is harmless
                log.warning("could not remove stored object %s: %s", key, exc)


def remove_renders(settings: Settings, job_ids: list[str]) -> None:
    """Delete the rendered videos and posters of deleted jobs (named by job id), in the
    bucket too (a job's outputs are its own: no other job or asset uses them)."""
    from rendercli import storage

    for job_id in job_ids:
        try:
            storage.remove_job_renders(settings.storage_dir, job_id)
        except OSError as exc:  # the rows are gone; a stray file is harmless
            log.warning("could not remove renders of %s: %s", job_id, exc)
    if settings.storage_url is None or not job_ids:
        return
    from rendercli.errors import RenderCliError
    from rendercli.objectstore import open_store
    from rendercli.objectstore.names import output_name

    try:
        store = open_store(settings)
        for job_id in job_ids:
            for ext in storage.RENDER_EXTS:
                store.remove(output_name(job_id, ext), reason="job deleted")
    except (RenderCliError, OSError, storage.UnsafePath) as exc:
        log.info("job outputs left in the bucket: %s", exc)
