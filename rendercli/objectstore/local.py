"""The local backend: the storage directory is the whole store (the embedded default and
a farm on a shared disk). Files are already at their canonical paths, so publishing is a
no-op and localizing only checks the file is there."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from rendercli import storage
from rendercli.errors import ObjectMissing
from rendercli.objectstore.names import check_name, local_path
from rendercli.objectstore.transfer import Progress, copy_verified


class LocalStore:
    """The storage directory as an object store."""

    remote = False

    def __init__(self, storage_dir: Path) -> None:
        self.storage_dir = Path(storage_dir)

    def publish(self, name: str, path: Path, *, progress: Progress | None = None) -> int:
        check_name(name)
        return 0

    def localize(self, name: str, *, sha256: str | None = None) -> Path:
        path = local_path(self.storage_dir, name)
        if not path.is_file():
            raise ObjectMissing(f"object {name} is missing from storage {self.storage_dir}")
        return path

    @contextlib.contextmanager
    def localized(self, wanted: Mapping[str, str | None]) -> Iterator[dict[str, Path]]:
        yield {name: self.localize(name, sha256=sha256) for name, sha256 in wanted.items()}

    def exists(self, name: str) -> bool:
        return local_path(self.storage_dir, name).is_file()

    def remove(self, name: str, *, reason: str) -> bool:
        kind, _, rest = check_name(name).partition("/")
        if kind == "objects":
            return storage.remove_object(self.storage_dir, rest, reason=reason)
        path = local_path(self.storage_dir, name)
        try:
            size = path.lstat().st_size
        except FileNotFoundError:
            return False
        storage.record_deletion(self.storage_dir, name, reason, size)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            return True
        return False

    def download(self, name: str, dest: Path, *, sha256: str | None,
                 progress: Progress | None = None) -> None:
        source = self.localize(name, sha256=sha256)
        with open(source, "rb") as src:
            copy_verified(name, src, Path(dest), sha256=sha256, progress=progress)

    def url(self, name: str, *, expires: int) -> str:
        return self.localize(name).absolute().as_uri()
