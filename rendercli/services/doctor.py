"""`rendercli doctor`: check every part rendercli depends on and say how to fix what fails."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rendercli.config import RENDER_QUEUE, Settings
from rendercli.errors import RenderCliError
from rendercli.media.ffmpeg_binary import FIX
from rendercli.render.capabilities import exercise, ffmpeg_info
from rendercli.services import accounts

if TYPE_CHECKING:
    from rendercli.services.unit_of_work import UnitOfWork

MIN_FREE_BYTES = 1024**3  # below 1 GiB of free storage, renders will soon fail


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str | None = None
    required: bool = True  # a failed required check makes doctor exit 1


def _configuration(settings: Settings) -> Check:
    source = ("RENDERCLI_DATABASE_URL" if settings.database_url_source != "default"
              else "the embedded default (SQLite)")
    mode = "farm (RENDERCLI_REDIS_URL)" if settings.redis_url else "embedded (renders inline)"
    bucket = f" (a cache of {settings.storage_url})" if settings.storage_url else ""
    return Check("configuration", True,
                 f"database from {source}; mode {mode}; data dir {settings.data_dir}; "
                 f"storage {settings.storage_dir}{bucket}; config dir {settings.config_dir}")


def _database(settings: Settings) -> Check:
    from sqlalchemy.exc import SQLAlchemyError

    from rendercli.db.engines import display_url, get_engine
    from rendercli.db.schema import HEAD_REVISION, current_revision

    where = display_url(settings.database_url)
    try:
        engine = get_engine(settings.database_url)
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", exc)).split())[:200]
        return Check("database", False, f"{where}: unreachable ({reason})",
                     "check RENDERCLI_DATABASE_URL and that the server is up")
    if revision == HEAD_REVISION:
        return Check("database", True, f"{where}: reachable, schema {revision} (latest)")
    if settings.is_sqlite:
        return Check("database", True,
                     f"{where}: schema {revision or 'empty'}; upgrades itself on first use")
    return Check("database", False, f"{where}: schema {revision or 'missing'}, needs "
                 f"{HEAD_REVISION}", "run `rendercli db upgrade`")


def _redis_and_workers(settings: Settings) -> list[Check]:
    if settings.redis_url is None:
        return [Check("redis", True, "not configured: renders run inline (embedded mode)")]
    from redis.exceptions import RedisError
    from rq import Worker

    from rendercli.services.renders.dispatch import redis_connection, render_queue

    try:
        connection = redis_connection(settings.redis_url)
        connection.ping()
        queue = render_queue(connection)
        depth = queue.count
        workers = [w for w in Worker.all(connection=connection)
                   if RENDER_QUEUE in w.queue_names()]
    except RedisError as exc:
        return [Check("redis", False, f"unreachable ({' '.join(str(exc).split())[:200]})",
                      "check RENDERCLI_REDIS_URL and that Redis is up; submitted jobs wait "
                      "in the database until it is back")]
    checks = [Check("redis", True, f"reachable; queue {RENDER_QUEUE}: {depth} waiting")]
    if workers:
        names = ", ".join(sorted(_safe_name(w.name) for w in workers)[:5])
        checks.append(Check("workers", True, f"{len(workers)} alive ({names})", required=False))
        checks.append(_worker_classes(connection, workers))
    else:
        checks.append(Check("workers", False, f"none listening on {RENDER_QUEUE}",
                            "start one with `rendercli worker`", required=False))
    return checks


def _safe_name(name: str) -> str:
    """A worker name from Redis, fit for a terminal (no control characters)."""
    cleaned = "".join(c if c.isprintable() else "?" for c in name)
    return cleaned if len(cleaned) <= 60 else cleaned[:57] + "..."


def _worker_classes(connection: Any, workers: list[Any]) -> Check:
    """Warn about live workers on the render queue that are not rendercli's RenderWorker:
    a plain `rq worker` runs whatever function a Redis writer names."""
    from rendercli.worker import WORKER_CLASS, WORKER_CLASS_FIELD

    foreign = []
    for worker in workers:
        recorded = connection.hget(worker.key, WORKER_CLASS_FIELD)
        if recorded != WORKER_CLASS.encode():
            foreign.append(_safe_name(worker.name))
    if not foreign:
        return Check("worker class", True, f"all {len(workers)} run {WORKER_CLASS}",
                     required=False)
    return Check(
        "worker class", False,
        f"{len(foreign)} of {len(workers)} on {RENDER_QUEUE} are not rendercli workers "
        f"({', '.join(sorted(foreign)[:5])}): they run any function queued in Redis",
        "stop them and run `rendercli worker` (or `rq worker -w "
        "rendercli.worker.RenderWorker ...`) instead", required=False)


def _storage(settings: Settings) -> Check:
    path = settings.storage_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
        free = shutil.disk_usage(path).free
    except OSError as exc:
        return Check("storage", False, f"{path}: not writable ({exc.strerror or exc})",
                     "set RENDERCLI_STORAGE_DIR to a writable directory shared by all workers")
    detail = f"{path}: writable, {free / 1024**3:.1f} GiB free"
    if free < MIN_FREE_BYTES:
        return Check("storage", False, detail, "free some space: renders need room")
    return Check("storage", True, detail)


def _bucket(settings: Settings) -> list[Check]:
    """RENDERCLI_STORAGE_URL's bucket (rendercli.objectstore.health), when one is set."""
    if settings.storage_url is None:
        return []
    from rendercli.objectstore.health import check_bucket

    return [Check(f.name, f.ok, f.detail, f.hint, f.required) for f in check_bucket(settings)]


def _ffmpeg() -> Check:
    try:
        info = ffmpeg_info()
    except (RenderCliError, OSError) as exc:
        return Check("ffmpeg", False, f"not usable ({getattr(exc, 'message', exc)})",
                     "install ffmpeg, set RENDERCLI_FFMPEG, or pip install imageio-ffmpeg")
    encoders = ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in info.encoders.items())
    features = ", ".join(f"{name} {'yes' if ok else 'no'}" for name, ok in info.features.items())
    detail = (f"{info.path} (from {info.source}: {info.reason}), version {info.version}; "
              f"encoders: {encoders}; features: {features}")
    try:
        took = exercise()
    except (RenderCliError, OSError) as exc:
        return Check("ffmpeg", False, f"{detail}; a test title render failed: "
                     f"{getattr(exc, 'message', exc)}", FIX)
    detail += f"; a test title render took {took:.2f} s"
    hint = None if all(info.encoders.values()) else "webm needs libvpx-vp9 and libopus"
    return Check("ffmpeg", True, detail, hint)


def _keyring(name: str) -> Check:
    if name.startswith("unavailable"):
        return Check("keyring", False, name, "log in with --insecure-storage, or use "
                     "RENDERCLI_TOKEN", required=False)
    return Check("keyring", True, name, required=False)


def _login(token: str | None, source: str, authenticate: Callable[[str], str], *,
           sqlite: bool) -> Check:
    if token is None and sqlite:
        return Check("login", True, "no login needed: the first command makes the local "
                     "account", required=False)
    if token is None:
        return Check("login", False, "not logged in", "run `rendercli login`, or set "
                     "RENDERCLI_TOKEN", required=False)
    try:
        email = authenticate(token)
    except RenderCliError as exc:
        return Check("login", False, exc.message, required=False)
    return Check("login", True, f"{email} (token from {source})", required=False)


def run_checks(uow: UnitOfWork, keyring_backend: str, token: str | None,
               token_source: str = "") -> list[Check]:
    """Run every check on `uow`'s settings and database; none of them raises. What this
    machine's keyring and credentials hold is the caller's to find (`keyring_backend`:
    its description; `token`: the token in use, None when not logged in, found in
    `token_source`)."""
    settings = uow.settings
    checks = [_configuration(settings), database := _database(settings)]
    checks += _redis_and_workers(settings)
    checks += [_storage(settings), *_bucket(settings), _ffmpeg(), _keyring(keyring_backend)]
    if database.ok:
        checks.append(_login(token, token_source,
                             lambda t: accounts.authenticate(uow, t).email,
                             sqlite=settings.is_sqlite))
    else:
        checks.append(Check("login", False, "skipped: the database is not reachable",
                            required=False))
    return checks
