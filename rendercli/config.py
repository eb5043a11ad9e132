"""Settings read from RENDERCLI_* environment variables, with platformdirs defaults.

Settings are read afresh on every call (it is cheap), so tests and long-running
workers see the environment they were started with, and nothing is cached at import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
FARM_SPLIT_MODES = ("auto", "always", "never")
RENDER_QUEUE = "render-video"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _float(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        from rendercli.errors import InvalidInput

        raise InvalidInput(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    config_dir: Path
    database_url: str
    database_url_source: str  # "RENDERCLI_DATABASE_URL" or "default"
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

    @property
    def is_embedded(self) -> bool:
        """True for the embedded default: SQLite and renders run inline (no Redis)."""
        return self.redis_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _redis_url() -> str | None:
    url = _env("RENDERCLI_REDIS_URL")
    if url is not None and not url.startswith(REDIS_SCHEMES):
        from rendercli.errors import InvalidInput

        raise InvalidInput(
            f"RENDERCLI_REDIS_URL must start with redis://, rediss:// or unix://, got {url!r}"
        )
    return url


def get_settings() -> Settings:
    """Read the current settings from the environment."""
    import platformdirs

    data_dir = Path(_env("RENDERCLI_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))
    config_dir = Path(_env("RENDERCLI_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME))
    url = _env("RENDERCLI_DATABASE_URL")
    storage = _env("RENDERCLI_STORAGE_DIR")
    return Settings(
        data_dir=data_dir,
        config_dir=config_dir,
        database_url=url or f"sqlite:///{data_dir / 'rendercli.db'}",
        database_url_source="RENDERCLI_DATABASE_URL" if url else "default",
        storage_dir=Path(storage) if storage else data_dir / "storage",
        token=_env("RENDERCLI_TOKEN"),
        redis_url=_redis_url(),
        debug=_env("RENDERCLI_DEBUG") not in (None, "0", "false"),
        ffmpeg=_env("RENDERCLI_FFMPEG"),
        bcrypt_rounds=int(_float("RENDERCLI_BCRYPT_ROUNDS", DEFAULT_BCRYPT_ROUNDS)),
        keyring_timeout=_float("RENDERCLI_KEYRING_TIMEOUT", DEFAULT_KEYRING_TIMEOUT),
        token_days=int(_float("RENDERCLI_TOKEN_DAYS", DEFAULT_TOKEN_DAYS)),
        max_duration=_float("RENDERCLI_MAX_DURATION", DEFAULT_MAX_DURATION),
        max_file_size=int(_float("RENDERCLI_MAX_FILE_SIZE", DEFAULT_MAX_FILE_SIZE)),
        max_dimension=int(_float("RENDERCLI_MAX_DIMENSION", DEFAULT_MAX_DIMENSION)),
        job_timeout=int(_float("RENDERCLI_JOB_TIMEOUT", DEFAULT_JOB_TIMEOUT)),
        max_retries=int(_float("RENDERCLI_MAX_RETRIES", DEFAULT_MAX_RETRIES)),
        heartbeat_interval=_float("RENDERCLI_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_INTERVAL),
        heartbeat_timeout=_float("RENDERCLI_HEARTBEAT_TIMEOUT", DEFAULT_HEARTBEAT_TIMEOUT),
        worker_sweep_interval=max(1, int(_float("RENDERCLI_WORKER_SWEEP_INTERVAL",
                                                DEFAULT_WORKER_SWEEP_INTERVAL))),
        chunk_seconds=_chunk_seconds(),
        farm_split=_farm_split(),
    )


def _chunk_seconds() -> float:
    value = _float("RENDERCLI_CHUNK_SECONDS", DEFAULT_CHUNK_SECONDS)
    if not (value >= 0 and value != float("inf")):
        from rendercli.errors import InvalidInput

        raise InvalidInput(f"RENDERCLI_CHUNK_SECONDS must be 0 (no chunks) or more seconds, "
                           f"got {_env('RENDERCLI_CHUNK_SECONDS')!r}")
    return value


def _farm_split() -> str:
    value = (_env("RENDERCLI_FARM_SPLIT") or "auto").lower()
    if value not in FARM_SPLIT_MODES:
        from rendercli.errors import InvalidInput

        raise InvalidInput(f"RENDERCLI_FARM_SPLIT must be one of {', '.join(FARM_SPLIT_MODES)}, "
                           f"got {_env('RENDERCLI_FARM_SPLIT')!r}")
    return value
