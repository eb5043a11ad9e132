"""The orphan sweep of a bucket: media objects no asset row references, deleted in
bounded steps by workers only.

A bucket may hold millions of objects, so a sweep never lists it whole: each step reads
ONE page (at most 1000 names) of ``objects/`` after a cursor kept in the worker's
storage directory (``tmp/bucket-sweep.json``), and wraps around at the end. It fails
closed like the local sweep (``sweeps.py``): the answer about references comes from the
worker role's ``rendercli_storage_keys_referenced`` (every account's assets), and any
doubt -- an error, a client login, a page that cannot be read -- deletes nothing.

Uploads to a bucket are not guarded by a lock across machines: an uploader that finds an
object already there skips the upload and commits its asset row a moment later. So an
object is deleted only when it was unreferenced at two steps at least the orphan grace
apart (and is older than the grace): a row committed in between keeps it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli import storage

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

PAGE = 1000  # names read per step: one ListObjectsV2 request
STATE = "bucket-sweep.json"  # under tmp/: {"after": name, "seen": {sha256: unix time}}
MAX_SEEN = 100_000  # candidates remembered (a bound on the state file)


def _state_path(settings: Settings) -> Path:
    return storage.tmp_dir(settings.storage_dir) / STATE


def _load(path: Path) -> tuple[str, dict[str, float]]:
    """The cursor and the candidates; an unreadable or odd state starts afresh (which
    only delays deletions: candidates must be seen again)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return "", {}
    if not isinstance(raw, dict):
        return "", {}
    after = raw.get("after")
    seen = raw.get("seen")
    after = after if isinstance(after, str) and len(after) <= 1024 else ""
    candidates = {k: float(v) for k, v in (seen.items() if isinstance(seen, dict) else ())
                  if storage.is_digest(k) and isinstance(v, int | float)}
    return after, candidates


def _save(path: Path, after: str, seen: dict[str, float]) -> None:
    if len(seen) > MAX_SEEN:  # keep the newest: the oldest are seen again later
        seen = dict(sorted(seen.items(), key=lambda kv: kv[1])[-MAX_SEEN:])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"after": after, "seen": seen}))
    os.replace(tmp, path)


def sweep_bucket_step(settings: Settings, uow: UnitOfWork, store: Any, *,
                      page: int = PAGE, now: float | None = None) -> int | None:
    """One bounded step of the bucket's orphan sweep (one page of names). Returns how many
    objects were deleted, or None when nothing could be decided (nothing deleted).
    Never raises."""
    try:
        return _step(settings, uow, store, min(page, PAGE), time.time() if now is None
                     else now)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("bucket orphan sweep skipped, every object kept: %s", first)
        return None


def _step(settings: Settings, uow: UnitOfWork, store: Any, page: int, now: float) -> int:
    from rendercli.db.tenancy import storage_keys_referenced
    from rendercli.objectstore import object_name

    path = _state_path(settings)
    after, seen = _load(path)
    names, next_after = store.page("objects", after=after, limit=page)
    grace = settings.orphan_grace
    old = {name.partition("/")[2]: modified for name, _size, modified in names
           if now - modified >= grace}
    old = {key: modified for key, modified in old.items() if storage.is_digest(key)}
    if old:
        with uow.fresh() as asking:  # raises for anyone but the worker role: nothing done
            used = storage_keys_referenced(asking.rows, sorted(old))
    else:
        used = set()
    removed = 0
    reason = (f"bucket orphan sweep: no asset references it, unreferenced for over "
              f"{grace:g} s")
    for key in sorted(old):
        if key in used:
            seen.pop(key, None)
            continue
        first = seen.setdefault(key, now)
        if first < now and now - first >= grace:  # unreferenced at two steps
            if store.remove(object_name(key), reason=reason):
                removed += 1
            seen.pop(key, None)
    _save(path, next_after or "", seen)
    if removed:
        log.info("bucket orphan sweep removed %d unreferenced objects", removed)
    return removed
