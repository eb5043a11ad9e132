"""Where the client keeps its token: RENDERCLI_TOKEN, the OS keyring, or an opt-in 0600 file.

Tokens are stored per database (keyed by its URL with the password masked), so two
databases keep separate logins. Keyring calls run in a thread with a time limit: a
locked or absent D-Bus secret service must never hang the CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rendercli.errors import OperationFailed

if TYPE_CHECKING:
    from rendercli.config import Settings

KEYRING_SERVICE = "rendercli"
CREDENTIALS_FILE = "credentials.json"
LOCAL_ACCOUNT_FILE = "local-account.json"  # in the private data dir, never the keyring
LOCAL_ACCOUNT_SOURCE = "local account"  # how StoredToken.source starts for it

T = TypeVar("T")


class KeyringUnavailable(Exception):
    """No usable keyring backend, or it did not answer in time."""


@dataclass(frozen=True)
class StoredToken:
    token: str
    source: str  # "RENDERCLI_TOKEN", "keyring" or the credentials file path


_PLAIN_SQLITE_URL = re.compile(r"^sqlite:///[A-Za-z0-9 /._~+-]*$")


# A PostgreSQL URL whose parts SQLAlchemy renders back unchanged (no quoting), so its key
# is made here without loading SQLAlchemy; a test checks both agree.
_PLAIN_PG_URL = re.compile(
    r"^(postgresql\+psycopg://)(?:([A-Za-z0-9._-]+)(:[A-Za-z0-9._~-]*)?@)?"
    r"([A-Za-z0-9.-]*)((?::[1-9][0-9]{0,4})?)((?:/[A-Za-z0-9._-]+)?)"
    r"(?:\?((?:[A-Za-z0-9_]+=[A-Za-z0-9._~/%-]*)(?:&[A-Za-z0-9_]+=[A-Za-z0-9._~/%-]*)*))?$")


def _plain_pg_key(database_url: str) -> str | None:
    from urllib.parse import quote_plus, unquote_plus

    found = _PLAIN_PG_URL.match(database_url)
    if found is None:
        return None
    scheme, user, password, host, port, database, query = found.groups()
    pairs = [pair.split("=", 1) for pair in query.split("&")] if query else []
    if len({k for k, _ in pairs}) != len(pairs) or any(k == "password" or not v
                                                       for k, v in pairs):
        return None  # SQLAlchemy drops blank values; a password here is not ours to show
    key = scheme + (f"{user}{':***' if password is not None else ''}@" if user else "")
    key += host + port + database
    if pairs:
        key += "?" + "&".join(f"{k}={quote_plus(unquote_plus(v))}" for k, v in sorted(pairs))
    return key


def database_key(database_url: str) -> str:
    """Which database a stored login belongs to: its URL with any password masked."""
    if _PLAIN_SQLITE_URL.match(database_url):
        return database_url  # nothing to mask, and SQLAlchemy would render it unchanged
    plain = _plain_pg_key(database_url)
    if plain is not None:
        return plain
    from rendercli.db.engines import display_url

    return display_url(database_url)


def credentials_path(settings: Settings) -> Path:
    return settings.config_dir / CREDENTIALS_FILE


def local_account_path(settings: Settings) -> Path:
    """Where the local account's token is kept (0600, in the 0700 data dir)."""
    return settings.data_dir / LOCAL_ACCOUNT_FILE


# ---- keyring ---------------------------------------------------------------------------


def _with_timeout(fn: Callable[[], T], timeout: float) -> T:
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, daemon=True, name="keyring")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise KeyringUnavailable(f"the keyring did not answer within {timeout:g} s")
    if error:
        raise error[0]
    return result[0]


def _backend():  # type: ignore[no-untyped-def]
    import keyring
    from keyring.backends import fail, null

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring):
        raise KeyringUnavailable("no keyring backend is available on this system")
    try:
        from keyring.backends import chainer

        if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
            raise KeyringUnavailable("no keyring backend is available on this system")
    except ImportError:  # pragma: no cover
        pass
    return backend


def _keyring_call(fn: Callable[[object], T], timeout: float) -> T:
    from keyring.errors import KeyringError

    try:
        return _with_timeout(lambda: fn(_backend()), timeout)
    except KeyringUnavailable:
        raise
    except KeyringError as exc:
        raise KeyringUnavailable(str(exc) or type(exc).__name__) from None


def _keyring_delete(key: str, timeout: float) -> None:
    # Nothing stored there, or no keyring at all: either way there is nothing to remove.
    with contextlib.suppress(Exception):
        _keyring_call(lambda b: b.delete_password(KEYRING_SERVICE, key), timeout)  # type: ignore[attr-defined]


def check_keyring(settings: Settings) -> None:
    """Raise KeyringUnavailable unless a usable keyring backend answers a read in time
    (a backend that exists but cannot be reached, such as a secret service without a
    D-Bus session, fails here rather than after a password was typed)."""
    try:
        _keyring_call(lambda b: b.get_password(KEYRING_SERVICE, "rendercli-probe"),  # type: ignore[attr-defined]
                      settings.keyring_timeout)
    except KeyringUnavailable:
        raise
    except Exception as exc:  # a backend's own error types (D-Bus, Secret Service)
        raise KeyringUnavailable(str(exc) or type(exc).__name__) from None


def keyring_backend_name(settings: Settings) -> str:
    """A description of the keyring backend in use (for whoami and doctor)."""
    try:
        backend = _with_timeout(_backend, settings.keyring_timeout)
    except KeyringUnavailable as exc:
        return f"unavailable ({exc})"
    return f"{type(backend).__module__}.{type(backend).__name__}"


# ---- the 0600 file -----------------------------------------------------------------------


def _read_file(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise OperationFailed(f"cannot read {path}: {exc}") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_file(path: Path, entries: dict[str, str]) -> None:
    from rendercli.fsmodes import ensure_private_dir

    ensure_private_dir(path.parent)
    if not entries:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(entries, fh, indent=2)
        os.chmod(tmp, 0o600)  # in case a umask or an old file widened it
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---- public API ----------------------------------------------------------------------------


def load_token(settings: Settings) -> StoredToken | None:
    """The token to use for the settings' database: RENDERCLI_TOKEN, then the
    credentials file, then the keyring."""
    if settings.token:
        return StoredToken(settings.token, "RENDERCLI_TOKEN")
    return load_stored_token(settings)


def load_stored_token(settings: Settings) -> StoredToken | None:
    """The login stored on this machine (credentials file, then keyring), ignoring
    RENDERCLI_TOKEN: what `login` saved, which the variable overrides when set."""
    key, path = database_key(settings.database_url), credentials_path(settings)
    from_file = _read_file(path).get(key)
    if from_file:
        return StoredToken(from_file, str(path))
    try:
        token = _keyring_call(lambda b: b.get_password(KEYRING_SERVICE, key),  # type: ignore[attr-defined]
                              settings.keyring_timeout)
    except KeyringUnavailable:
        return None
    return StoredToken(token, "keyring") if token else None


def save_token(settings: Settings, token: str, *, insecure_file: bool) -> str:
    """Store a login token for the settings' database; returns where it went. Raises
    KeyringUnavailable (no fallback)."""
    key, path = database_key(settings.database_url), credentials_path(settings)
    if insecure_file:
        entries = _read_file(path)
        entries[key] = token
        _write_file(path, entries)
        _keyring_delete(key, settings.keyring_timeout)
        return str(path)
    _keyring_call(lambda b: b.set_password(KEYRING_SERVICE, key, token),  # type: ignore[attr-defined]
                  settings.keyring_timeout)
    entries = _read_file(path)
    if entries.pop(key, None) is not None:
        _write_file(path, entries)
    return "keyring"


def forget_token(settings: Settings) -> None:
    """Remove the stored login for the settings' database from the file and the keyring."""
    key, path = database_key(settings.database_url), credentials_path(settings)
    entries = _read_file(path)
    if entries.pop(key, None) is not None:
        _write_file(path, entries)
    _keyring_delete(key, settings.keyring_timeout)


def load_local_token(settings: Settings) -> StoredToken | None:
    """The local account's token for the settings' database
    (rendercli.services.local_account), from its 0600 file in the data dir, or None."""
    path = local_account_path(settings)
    token = _read_file(path).get(database_key(settings.database_url))
    return StoredToken(token, f"{LOCAL_ACCOUNT_SOURCE} ({path})") if token else None


def save_local_token(settings: Settings, token: str) -> None:
    """Keep the local account's token for the settings' database in its 0600 file."""
    path = local_account_path(settings)
    entries = _read_file(path)
    entries[database_key(settings.database_url)] = token
    _write_file(path, entries)
