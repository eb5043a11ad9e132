"""The application object: what a command or a worker needs, built once and handed down.

The root command builds one `App` per invocation (rendercli.cli.context.app); a worker
builds one when it starts (`App.for_worker`). Settings are read and checked once, here;
the caller's identity is set once login is checked (`acting_as`) and travels in every unit
of work the object makes, so nothing is process-wide and nothing rewrites the
environment. Tests build one with any database, storage or Redis:
`App(read_settings({"RENDERCLI_DATABASE_URL": url, ...}))`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rendercli.config import Environ, Settings, read_settings

if TYPE_CHECKING:
    from redis import Redis

    from rendercli.objectstore import ObjectStore
    from rendercli.services.unit_of_work import UnitOfWork


@dataclass
class App:
    """Settings, the caller's token, and the factories built on them."""

    settings: Settings
    token: str | None = None  # the caller, once identity.authenticate accepted it
    _redis: Any = field(default=None, repr=False, compare=False)
    _store: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_environment(cls, environ: Environ | None = None) -> App:
        """Read and check every RENDERCLI_* setting once (InvalidInput, exit 2, if one
        is out of range)."""
        return cls(read_settings(environ))

    @classmethod
    def for_worker(cls, environ: Environ | None = None) -> App:
        """A render worker's application: the worker role's database login."""
        return cls(read_settings(environ).for_worker())

    def acting_as(self, token: str | None) -> App:
        """From here on, units of work carry `token`: on PostgreSQL every transaction
        sets it, and row-level security shows only that account's rows."""
        self.token = token
        return self

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work on this application's database, as its caller."""
        from rendercli.services.unit_of_work import UnitOfWork

        return UnitOfWork(settings=self.settings, token=self.token)

    def redis(self) -> Redis:
        """The farm's Redis connection (made on first use; InvalidInput without a URL)."""
        if self._redis is None:
            from rendercli.services.renders.dispatch import redis_connection

            self._redis = redis_connection(self.settings.redis_url)
        return self._redis

    def store(self) -> ObjectStore:
        """The farm's object store (made on first use): the bucket of
        RENDERCLI_STORAGE_URL, else the storage directory."""
        if self._store is None:
            from rendercli.objectstore import open_store

            self._store = open_store(self.settings)
        return self._store
