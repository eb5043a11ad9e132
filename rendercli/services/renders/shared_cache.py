"""The render cache's remote (render/cache.py ``RemoteCache``) over the object store.

The engine never imports the object store: a worker on a farm with a bucket hands it
this adapter, and segments, soundtracks and finished renders encoded on one machine are
reused on another. With the local store (one shared directory) there is no remote: the
cache directory already is the farm's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rendercli.errors import ObjectMissing

if TYPE_CHECKING:
    from rendercli.objectstore import ObjectStore
    from rendercli.render.cache import RemoteCache


class StoreRemote:
    """Cache entries by name in a bucket: fetched whole into a new file (the cache
    verifies them against their sidecar), published create-only."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def fetch(self, name: str, dest: Path) -> bool:
        try:
            self.store.download(name, dest, sha256=None)
        except ObjectMissing:
            return False
        return True

    def publish(self, name: str, path: Path) -> int:
        return self.store.publish(name, path)

    def exists(self, name: str) -> bool:
        return self.store.exists(name)


def remote_cache(store: ObjectStore) -> RemoteCache | None:
    """The remote for the render cache: the bucket's, or None for the local store."""
    return StoreRemote(store) if store.remote else None
