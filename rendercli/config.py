"""Settings read from RENDERCLI_* environment variables, with platformdirs defaults.

`read_settings` reads and checks them all at once, from the environment or from any
mapping (tests build settings without touching the environment). The application object
(rendercli.app) reads them once per command or worker and hands them down; nothing is
cached at import, and nothing here writes the environment.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from rendercli.errors import InvalidInput

APP_NAME = "rendercli"

# Defaults for every tunable, in one place.
DEFAULT_TOKEN_DAYS = 30
DEFAULT_BCRYPT_ROUNDS = 12
DEFAULT_KEYRING_TIMEOUT = 5.0  # seconds; keyring backends can hang on a locked D-Bus
DEFAULT_MAX_DURATION = 4 * 3600.0  # seconds of media per asset
DEFAULT_MAX_FILE_SIZE = 20 * 1000**3  # bytes per asset
DEFAULT_MAX_DIMENSION = 8192  # pixels, width or height
DEFAULT_JOB_TIMEOUT = 2 * 3600  # seconds for one render in the farm
DEFAULT_MAX_RETRIES = 2  # transient failures retried this many times
DEFAULT_HEARTBEAT_INTERVAL = 10.0  # seconds between worker heartbeats
DEFAULT_HEARTBEAT_TIMEOUT = 60.0  # a processing job silent this long is stale
DEFAULT_WORKER_SWEEP_INTERVAL = 30  # seconds between an idle worker's farm sweeps
# Item bodies longer than this are cut into chunks that encode side by side (inline: on
# both cores; farm: on several workers). Measured in bench/bench_farm_parallel.py.
DEFAULT_CHUNK_SECONDS = 10.0
DEFAULT_RENDER_JOBS = 2  # ffmpeg processes one render runs at once
DEFAULT_FFMPEG_STOP_GRACE = 0.5  # seconds ffmpeg gets to exit after SIGTERM before SIGKILL
DEFAULT_CANCEL_POLL_INTERVAL = 1.0  # seconds between a render's "still mine?" checks
DEFAULT_WATCH_SWEEP_INTERVAL = 15.0  # seconds between stale-job sweeps while watching
DEFAULT_ORPHAN_SWEEP_INTERVAL = 300  # seconds between walks of objects/ (one process)
DEFAULT_ORPHAN_GRACE = 15 * 60  # seconds an object may sit unreferenced (an add in flight)
DEFAULT_INGEST_GUARD_WAIT = 60.0  # seconds an add waits for a storage sweep to finish
DEFAULT_LOG_LIMIT = 64 * 1024  # characters of render log kept per job
DEFAULT_COMMAND_LIMIT = 16 * 1024  # characters of ffmpeg commands kept per task
# seconds a PostgreSQL statement waits for a lock before it gives up: another session
# holding a table lock (even a hostile client's LOCK TABLE) delays others this long at most
DEFAULT_LOCK_TIMEOUT = 5.0
# bytes of bucket objects a machine keeps in its storage directory (the read-through cache)
DEFAULT_CACHE_LIMIT = 20 * 1000**3
FARM_SPLIT_MODES = ("auto", "always", "never")
INLINE_IMAGE_MODES = ("auto", "never", "kitty", "iterm")
RENDER_QUEUE = "render-video"


@dataclass(frozen=True)
class Setting:
    """One RENDERCLI_* variable: declared once, with its meaning, default and (numbers)
    allowed range. The README's configuration table is generated from SETTINGS."""

    name: str
    meaning: str
    default: str  # as the README shows it
    kind: type = str  # str, int or float
    value: float = 0  # the default of a number
    low: float = 0
    high: float = 0
    choices: tuple[str, ...] = ()  # a word setting's allowed values (any case)

    @property
    def allowed(self) -> str:
        """The range as a phrase, e.g. "a whole number from 1 to 365"."""
        if self.kind is str:
            return f"one of {', '.join(self.choices)}" if self.choices else ""
        if self.kind is int:
            return f"a whole number from {self.low:.0f} to {self.high:.0f}"
        return f"a number from {self.low:g} to {self.high:g}"


def _numeric(
    name: str, kind: type, default: float, low: float, high: float, meaning: str, note: str = ""
) -> Setting:
    shown = f"`{default:.0f}`" if kind is int else f"`{default:g}`"
    return Setting(name, meaning, f"{shown} ({note})" if note else shown, kind, default, low,
                   high)


SETTINGS: tuple[Setting, ...] = (
    Setting("RENDERCLI_DATABASE_URL",
            "SQLAlchemy URL; `postgresql+psycopg://user:pass@host/db` for PostgreSQL",
            "`sqlite:///<data dir>/rendercli.db` (the embedded default)"),
    Setting("RENDERCLI_WORKER_DATABASE_URL",
            "what `rendercli worker` connects with: the worker role's login on PostgreSQL",
            "`RENDERCLI_DATABASE_URL`"),
    Setting("RENDERCLI_REDIS_URL",
            "Redis for the farm, e.g. `redis://host:6379/0`; unset means renders run inline",
            "unset"),
    Setting("RENDERCLI_DATA_DIR", "where the default database and storage live",
            "the user data dir (`~/.local/share/rendercli` on Linux)"),
    Setting("RENDERCLI_STORAGE_DIR",
            "assets, renders and the render cache; shared by all workers", "`<data dir>/storage`"),
    Setting("RENDERCLI_STORAGE_URL",
            "`s3://BUCKET/PREFIX`: an S3 bucket is the farm's storage, and each machine's "
            "storage dir a bounded cache of it (README, \"Object storage (S3)\")",
            "unset (the storage dir alone)"),
    Setting("RENDERCLI_S3_ENDPOINT_URL",
            "an S3-compatible server, e.g. `http://garage:3900`; unset means AWS",
            "unset (AWS)"),
    Setting("RENDERCLI_S3_REGION", "the bucket's region", "the AWS chain's (`AWS_REGION`, "
            "profile), else `us-east-1`"),
    Setting("RENDERCLI_CACHE_LIMIT",
            "bytes of bucket objects kept in the local storage dir (least recently used go "
            "first); `10GB`, `500MiB` or a number of bytes", "`20GB`"),
    Setting("RENDERCLI_CONFIG_DIR", "where `--insecure-storage` keeps its token file",
            "the user config dir (`~/.config/rendercli`)"),
    Setting("RENDERCLI_TOKEN",
            "an API token; it takes precedence over the stored login (CI)", "unset"),
    Setting("RENDERCLI_FFMPEG", "the ffmpeg binary to use (5.1 or newer)",
            "`ffmpeg` on PATH if it has every feature rendercli uses, else the "
            "`imageio-ffmpeg` binary (README, \"Which ffmpeg\")"),
    _numeric("RENDERCLI_JOB_TIMEOUT", int, DEFAULT_JOB_TIMEOUT, 10, 7 * 86400,
             "seconds one render may take in the farm"),
    _numeric("RENDERCLI_MAX_RETRIES", int, DEFAULT_MAX_RETRIES, 0, 20,
             "times a job is retried after its worker died"),
    _numeric("RENDERCLI_HEARTBEAT_INTERVAL", float, DEFAULT_HEARTBEAT_INTERVAL, 0.1, 600,
             "seconds between worker heartbeats"),
    _numeric("RENDERCLI_HEARTBEAT_TIMEOUT", float, DEFAULT_HEARTBEAT_TIMEOUT, 1, 86400,
             "a processing job silent this long (seconds) is handed back; more than the "
             "heartbeat interval"),
    _numeric("RENDERCLI_WORKER_SWEEP_INTERVAL", int, DEFAULT_WORKER_SWEEP_INTERVAL, 1, 3600,
             "seconds between an idle worker's sweeps (recover dead workers' jobs, "
             "dispatch undispatched ones), and at least between two job commands' "
             "dispatches of undispatched jobs on one machine"),
    _numeric("RENDERCLI_CHUNK_SECONDS", float, DEFAULT_CHUNK_SECONDS, 0, 86400,
             "item bodies longer than this (seconds) are cut into chunks at exact frames "
             "that encode side by side, inline and across the farm; `0`: no chunks"),
    _numeric("RENDERCLI_RENDER_JOBS", int, DEFAULT_RENDER_JOBS, 1, 64,
             "ffmpeg processes one render (or one farm task) runs at once"),
    _numeric("RENDERCLI_CANCEL_POLL_INTERVAL", float, DEFAULT_CANCEL_POLL_INTERVAL, 0.05, 60,
             "seconds between a rendering process's checks that its job is still its own: "
             "how soon a cancel stops ffmpeg; less than the heartbeat timeout"),
    _numeric("RENDERCLI_FFMPEG_STOP_GRACE", float, DEFAULT_FFMPEG_STOP_GRACE, 0, 60,
             "seconds a stopped ffmpeg gets to exit after SIGTERM, before SIGKILL"),
    Setting("RENDERCLI_FARM_SPLIT",
            "when a farm worker splits a render into tasks for many workers: `auto` (two or "
            "more workers on the queue), `always`, `never` (one worker per render)",
            "`auto`", choices=FARM_SPLIT_MODES),
    _numeric("RENDERCLI_WATCH_SWEEP_INTERVAL", float, DEFAULT_WATCH_SWEEP_INTERVAL, 1, 3600,
             "seconds between sweeps for jobs of dead workers while a command follows jobs "
             "(`jobs watch`, `render submit --wait`)"),
    _numeric("RENDERCLI_ORPHAN_SWEEP_INTERVAL", int, DEFAULT_ORPHAN_SWEEP_INTERVAL, 0,
             7 * 86400, "seconds between walks of storage for objects no asset uses (one "
             "process at a time does it, during upkeep: workers' on PostgreSQL, any "
             "command's on SQLite); `0`: at every upkeep"),
    _numeric("RENDERCLI_ORPHAN_GRACE", int, DEFAULT_ORPHAN_GRACE, 0, 30 * 86400,
             "seconds an object no asset uses is kept before that walk removes it (on "
             "filesystems without locks, all that protects an `asset add` in flight)",
             "15 min"),
    _numeric("RENDERCLI_INGEST_GUARD_WAIT", float, DEFAULT_INGEST_GUARD_WAIT, 0.1, 3600,
             "seconds an `asset add` (or `project apply`) waits for a storage walk to finish "
             "before it gives up"),
    _numeric("RENDERCLI_LOG_LIMIT", int, DEFAULT_LOG_LIMIT, 1024, 10**8,
             "characters of render log kept per job (the newest)", "64 KiB"),
    _numeric("RENDERCLI_COMMAND_LIMIT", int, DEFAULT_COMMAND_LIMIT, 1024, 10**7,
             "characters of ffmpeg commands kept per task of a render split over the farm",
             "16 KiB"),
    _numeric("RENDERCLI_LOCK_TIMEOUT", float, DEFAULT_LOCK_TIMEOUT, 0.1, 600,
             "seconds a statement on PostgreSQL waits for a lock another session holds "
             "before the command stops (exit 1; a worker retries)"),
    _numeric("RENDERCLI_MAX_DURATION", float, DEFAULT_MAX_DURATION, 0.1, 7 * 86400,
             "longest media accepted, seconds; also the most any time on a timeline (a "
             "still's or title's duration, a trim, a fade, a text's start and length) and "
             "the whole timeline may last", "4 h"),
    _numeric("RENDERCLI_MAX_FILE_SIZE", int, DEFAULT_MAX_FILE_SIZE, 1, 10**14,
             "largest file accepted, bytes", "20 GB"),
    _numeric("RENDERCLI_MAX_DIMENSION", int, DEFAULT_MAX_DIMENSION, 16, 16384,
             "widest or tallest picture accepted, pixels"),
    _numeric("RENDERCLI_KEYRING_TIMEOUT", float, DEFAULT_KEYRING_TIMEOUT, 0.1, 300,
             "seconds to wait for the OS keyring"),
    _numeric("RENDERCLI_TOKEN_DAYS", int, DEFAULT_TOKEN_DAYS, 1, 365,
             "lifetime of a login session, days"),
    _numeric("RENDERCLI_BCRYPT_ROUNDS", int, DEFAULT_BCRYPT_ROUNDS, 4, 16,
             "bcrypt cost for new passwords on SQLite. On PostgreSQL the database keeps the cost, "
             "and `db upgrade` records this value there when it is set (the test suite "
             "lowers it for speed)"),
    Setting("RENDERCLI_INLINE_IMAGES",
            "how `render frame` and `project storyboard` show their PNG on a terminal: `auto` "
            "(inline on kitty, Ghostty, iTerm2 and WezTerm, not inside tmux or screen), "
            "`never`, or force `kitty` / `iterm` (the graphics protocol to speak)",
            "`auto`", choices=INLINE_IMAGE_MODES),
    Setting("RENDERCLI_DEBUG", "`1` shows tracebacks for unexpected errors", "unset"),
)
_BY_NAME = {setting.name: setting for setting in SETTINGS}


Environ = Mapping[str, str]


def _env(name: str, environ: Environ | None = None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    return value if value not in (None, "") else None


def _invalid(message: str) -> Exception:
    return InvalidInput(message)


def _number(name: str, environ: Environ | None = None) -> float:
    """A numeric setting, checked against its declared type and range (exit 2 if not)."""
    setting = _BY_NAME[name]
    raw = _env(name, environ)
    if raw is None:
        return setting.value
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    whole = setting.kind is not int or (math.isfinite(value) and value.is_integer())
    if not (math.isfinite(value) and whole and setting.low <= value <= setting.high):
        raise _invalid(f"{name} must be {setting.allowed}, got {raw!r}")
    return int(value) if setting.kind is int else value


def _choice(name: str, environ: Environ | None = None) -> str:
    """A word setting, one of its declared choices (any case; exit 2 if not)."""
    setting = _BY_NAME[name]
    raw = _env(name, environ)
    if raw is None:
        return setting.default.strip("`")
    value = raw.strip().lower()
    if value not in setting.choices:
        raise _invalid(f"{name} must be {setting.allowed}, got {raw!r}")
    return value


def settings_table() -> str:
    """The README's configuration table, in Markdown."""
    lines = ["| variable | meaning | default | allowed |", "|---|---|---|---|"]
    for setting in SETTINGS:
        lines.append(
            f"| `{setting.name}` | {setting.meaning} | {setting.default} | "
            f"{setting.allowed or '-'} |"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    config_dir: Path
    database_url: str
    database_url_source: str  # "RENDERCLI_DATABASE_URL" or "default"
    worker_database_url: str  # what `rendercli worker` connects with
    storage_dir: Path
    token: str | None
    redis_url: str | None
    debug: bool
    ffmpeg: str | None  # RENDERCLI_FFMPEG: an explicit ffmpeg binary
    bcrypt_rounds: int
    keyring_timeout: float
    token_days: int
    max_duration: float
    max_file_size: int
    max_dimension: int
    job_timeout: int
    max_retries: int
    heartbeat_interval: float
    heartbeat_timeout: float
    worker_sweep_interval: int
    chunk_seconds: float  # 0: no chunking
    farm_split: str  # auto (2+ workers) | always | never
    render_jobs: int
    cancel_poll_interval: float
    ffmpeg_stop_grace: float
    watch_sweep_interval: float
    orphan_sweep_interval: int
    orphan_grace: int
    ingest_guard_wait: float
    log_limit: int
    command_limit: int
    lock_timeout: float  # seconds (PostgreSQL lock_timeout of every session)
    inline_images: str  # auto | never | kitty | iterm
    storage_url: str | None = None  # s3://bucket[/prefix], or None: the storage dir alone
    s3_endpoint_url: str | None = None  # an S3-compatible server; None: AWS
    s3_region: str | None = None
    cache_limit: int = DEFAULT_CACHE_LIMIT  # bytes of bucket objects cached locally

    @property
    def s3_bucket(self) -> str | None:
        """The bucket of RENDERCLI_STORAGE_URL (None: no bucket)."""
        return split_storage_url(self.storage_url)[0] if self.storage_url else None

    @property
    def s3_prefix(self) -> str:
        """The key prefix under the bucket, "" or ending in "/"."""
        return split_storage_url(self.storage_url)[1] if self.storage_url else ""

    @property
    def is_embedded(self) -> bool:
        """True for the embedded default: SQLite and renders run inline (no Redis)."""
        return self.redis_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def for_worker(self) -> Settings:
        """These settings as a render worker uses them: connected with the worker role's
        login (RENDERCLI_WORKER_DATABASE_URL) when one is set."""
        return replace(self, database_url=self.worker_database_url)


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_RE = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
               "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


def split_storage_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/"); InvalidInput if it is
    not an s3:// URL with a valid bucket name and a plain prefix (no ``..``)."""
    rest = url[len("s3://"):] if url.startswith("s3://") else None
    bucket, _, prefix = (rest or "").partition("/")
    prefix = prefix.strip("/")
    if (rest is None or not _BUCKET_RE.fullmatch(bucket) or ".." in bucket
            or (prefix and (not _PREFIX_RE.fullmatch(prefix)
                            or any(part in (".", "..") for part in prefix.split("/"))))):
        raise _invalid(
            f"RENDERCLI_STORAGE_URL must be s3://BUCKET or s3://BUCKET/PREFIX (a bucket "
            f"name, then letters, digits, '.', '_', '-' and '/'), got {url!r}"
        )
    return bucket, f"{prefix}/" if prefix else ""


def parse_size(name: str, raw: str) -> int:
    """A size setting: bytes, or a number with a unit (``10GB``, ``500MiB``)."""
    match = _SIZE_RE.fullmatch(raw.strip())
    value = -1.0
    if match:
        unit = (match.group(2) or "").lower().removesuffix("b")
        value = float(match.group(1)) * _SIZE_UNITS[unit]
    if not (1 <= value <= 10**15):
        raise _invalid(f"{name} must be a size from 1 byte to 1 PB (e.g. 10GB, 500MiB or "
                       f"a number of bytes), got {raw!r}")
    return int(value)


def _s3_settings(environ: Environ | None) -> dict[str, object]:
    """RENDERCLI_STORAGE_URL and the settings that go with it, checked."""
    url = _env("RENDERCLI_STORAGE_URL", environ)
    if url is not None:
        split_storage_url(url)
    endpoint = _env("RENDERCLI_S3_ENDPOINT_URL", environ)
    if endpoint is not None and (not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?",
                                                  endpoint)):
        raise _invalid(f"RENDERCLI_S3_ENDPOINT_URL must be an http:// or https:// URL, "
                       f"got {endpoint!r}")
    region = _env("RENDERCLI_S3_REGION", environ)
    if region is not None and not re.fullmatch(r"[a-z0-9-]{1,32}", region):
        raise _invalid(f"RENDERCLI_S3_REGION must be a region name such as eu-west-1, "
                       f"got {region!r}")
    limit = _env("RENDERCLI_CACHE_LIMIT", environ)
    return {"storage_url": url, "s3_endpoint_url": endpoint, "s3_region": region,
            "cache_limit": parse_size("RENDERCLI_CACHE_LIMIT", limit) if limit
            else DEFAULT_CACHE_LIMIT}


def _redis_url(environ: Environ | None = None) -> str | None:
    url = _env("RENDERCLI_REDIS_URL", environ)
    if url is not None and not url.startswith(REDIS_SCHEMES):
        from rendercli.errors import InvalidInput

        raise InvalidInput(
            f"RENDERCLI_REDIS_URL must start with redis://, rediss:// or unix://, got {url!r}"
        )
    return url


def lock_timeout() -> float:
    """RENDERCLI_LOCK_TIMEOUT alone (checked), for code that opens database connections
    and needs no other setting."""
    return float(_number("RENDERCLI_LOCK_TIMEOUT"))


def get_settings() -> Settings:
    """The settings in the environment now (code not yet handed an application object)."""
    return read_settings()


def read_settings(environ: Environ | None = None) -> Settings:
    """Every setting, read from `environ` (default: the environment) and checked once.

    Raises InvalidInput (exit 2) naming the first variable out of its range."""
    import platformdirs

    def env(name: str) -> str | None:
        return _env(name, environ)

    data_dir = Path(env("RENDERCLI_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))
    config_dir = Path(env("RENDERCLI_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME))
    url = env("RENDERCLI_DATABASE_URL")
    database_url = url or f"sqlite:///{data_dir / 'rendercli.db'}"
    storage = env("RENDERCLI_STORAGE_DIR")
    # Every number, checked against its declared range; named as its variable.
    numbers = {s.name.removeprefix("RENDERCLI_").lower(): _number(s.name, environ)
               for s in SETTINGS if s.kind is not str}
    heartbeat_interval, heartbeat_timeout = (numbers["heartbeat_interval"],
                                             numbers["heartbeat_timeout"])
    if heartbeat_timeout <= heartbeat_interval:
        raise _invalid(
            f"RENDERCLI_HEARTBEAT_TIMEOUT ({heartbeat_timeout:g} s) must be more than "
            f"RENDERCLI_HEARTBEAT_INTERVAL ({heartbeat_interval:g} s), or live jobs are "
            "taken for dead"
        )
    cancel_poll_interval = numbers["cancel_poll_interval"]
    if cancel_poll_interval >= heartbeat_timeout:
        raise _invalid(
            f"RENDERCLI_CANCEL_POLL_INTERVAL ({cancel_poll_interval:g} s) must be less than "
            f"RENDERCLI_HEARTBEAT_TIMEOUT ({heartbeat_timeout:g} s), or live jobs are "
            "taken for dead"
        )
    return Settings(
        data_dir=data_dir,
        config_dir=config_dir,
        database_url=database_url,
        database_url_source="RENDERCLI_DATABASE_URL" if url else "default",
        worker_database_url=env("RENDERCLI_WORKER_DATABASE_URL") or database_url,
        storage_dir=Path(storage) if storage else data_dir / "storage",
        token=env("RENDERCLI_TOKEN"),
        redis_url=_redis_url(environ),
        debug=env("RENDERCLI_DEBUG") not in (None, "0", "false"),
        ffmpeg=env("RENDERCLI_FFMPEG"),
        farm_split=_choice("RENDERCLI_FARM_SPLIT", environ),
        inline_images=_choice("RENDERCLI_INLINE_IMAGES", environ),
        **_s3_settings(environ),  # type: ignore[arg-type]
        **numbers,  # type: ignore[arg-type]  # each an int or a float, as its setting says
    )
