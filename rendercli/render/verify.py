"""Stored inputs are what their keys say: checked before anything made from them is cached.

Storage is content-addressed (an object's key is the SHA-256 of its bytes) and cache
keys are derived from those keys. Whoever can write to the storage directory could put
other bytes under a key, and a segment encoded from them would then be served to every
later render of the real content, any account's. So each ffmpeg step that reads stored
files checks them twice: before ffmpeg starts, each file's bytes must hash to its key;
before the step's output is published, each file must still be the one checked (same
device, inode, size, mtime and ctime). A mismatch fails the step and nothing is
published.

Hashing costs about a second per gigabyte, so a file's hash is remembered under its
identity (device, inode, size, mtime_ns, ctime_ns) in a small SQLite file in the data
directory, as `apply` remembers hashes: an unchanged object is read once per machine.
Any write changes mtime and ctime, and ctime cannot be set back by a user. The memo is
only an accelerator: if it cannot be opened, files are hashed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rendercli.render.errors import RenderFailed
from rendercli.render.timeline import PlannedItem, Segment, TimelineItem, TimelinePlan

MEMO_FILE = "verified-objects.sqlite3"
CHUNK_SIZE = 1024 * 1024
_SCHEMA = ("CREATE TABLE IF NOT EXISTS verified (device INTEGER, inode INTEGER, "
           "size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, sha256 TEXT, "
           "PRIMARY KEY (device, inode))")

Identity = tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns


def identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class Source:
    """A stored file a step reads, the SHA-256 its key promises, and how messages name
    it (the asset)."""

    path: Path
    sha256: str
    name: str


class HashMemo:
    """Remembered hashes by file identity: in memory, and in an SQLite file when given.
    Never raises for memo trouble: a broken memo only means more hashing."""

    def __init__(self, file: Path | None) -> None:
        self._known: dict[Identity, str] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if file is None:
            return
        try:
            from rendercli.fsmodes import ensure_private_dir, ensure_private_file

            ensure_private_dir(file.parent)
            ensure_private_file(file)
            self._db = sqlite3.connect(file, timeout=5, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error):
            self._db = None

    def get(self, ident: Identity) -> str | None:
        with self._lock:
            known = self._known.get(ident)
            if known is not None or self._db is None:
                return known
            try:
                row = self._db.execute(
                    "SELECT size, mtime_ns, ctime_ns, sha256 FROM verified "
                    "WHERE device = ? AND inode = ?", ident[:2]).fetchone()
            except sqlite3.Error:
                return None
            if row is None or tuple(row[:3]) != ident[2:]:
                return None
            self._known[ident] = str(row[3])
            return str(row[3])

    def put(self, ident: Identity, sha256: str) -> None:
        with self._lock:
            self._known[ident] = sha256
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("INSERT OR REPLACE INTO verified VALUES (?, ?, ?, ?, ?, ?)",
                                     (*ident, sha256))


_memos: dict[Path, HashMemo] = {}
_memos_lock = threading.Lock()


def default_memo() -> HashMemo:
    """This process's memo for the configured data directory."""
    from rendercli.config import get_settings

    file = get_settings().data_dir / MEMO_FILE
    with _memos_lock:
        memo = _memos.get(file)
        if memo is None:
            memo = _memos[file] = HashMemo(file)
        return memo


def _hash(path: Path) -> tuple[str, Identity, Identity]:
    """SHA-256 of the file at ``path`` and its identity before and after reading."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        before = identity(os.fstat(f.fileno()))
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
        after = identity(os.fstat(f.fileno()))
    return digest.hexdigest(), before, after


def _mismatch(source: Source, why: str) -> RenderFailed:
    return RenderFailed(
        f"{source.name}: the stored file {why} (object {source.sha256[:12]}…); it was "
        "changed or replaced in storage, so nothing made from it was cached or published "
        "(adding the original file again restores it)")


class SourceCheck:
    """The stored files one step reads: :meth:`before` it runs, :meth:`after` it ran and
    before its outputs are published. Both raise RenderFailed naming the asset."""

    def __init__(self, sources: Iterable[Source], memo: HashMemo | None = None) -> None:
        self.sources = list({s.path: s for s in sources}.values())
        self._memo = memo
        self._checked: dict[Path, Identity] = {}

    def before(self) -> None:
        memo = self._memo or default_memo()
        for source in self.sources:
            try:
                ident = identity(os.stat(source.path))
                sha = memo.get(ident)
                if sha is None:
                    sha, ident, after = _hash(source.path)
                    if after != ident:
                        raise _mismatch(source, "changed while it was being checked")
                    memo.put(ident, sha)
            except FileNotFoundError:
                raise RenderFailed(f"{source.name}: the stored file is missing (object "
                                   f"{source.sha256[:12]}…)") from None
            except OSError as exc:
                raise RenderFailed(f"{source.name}: cannot read the stored file: "
                                   f"{exc.strerror or exc}") from None
            if sha != source.sha256:
                raise _mismatch(source, "does not match its content hash")
            self._checked[source.path] = ident

    def after(self) -> None:
        for source in self.sources:
            try:
                now: Identity | None = identity(os.stat(source.path))
            except OSError:
                now = None
            if now is None or now != self._checked.get(source.path):
                raise _mismatch(source, "changed while it was being rendered")


def _item_sources(item: TimelineItem, *, picture: bool) -> list[Source]:
    out = []
    name = repr(item.name) if item.name else "an item"
    if item.kind in ("video", "image") and picture:
        out.append(Source(item.path, item.sha256, name))
    if item.kind in ("video", "audio") and not picture:
        out.append(Source(item.path, item.sha256, name))
    if picture:
        fonts = [(o.font, o.font_sha256, o.font_name) for o in item.texts]
        if item.title is not None:
            fonts.append((item.title.font, item.title.font_sha256, item.title.font_name))
        for path, sha, font_name in fonts:
            if path is not None:
                shown = repr(font_name) if font_name else "a font"
                out.append(Source(Path(path), sha, f"{shown} (used by {name})"))
    return out


def segment_sources(segment: Segment) -> list[Source]:
    """The stored files one picture segment reads: its items' media and fonts."""
    planned: Sequence[PlannedItem] = (
        (segment.transition.before, segment.transition.after)
        if segment.transition is not None else (segment.item,) if segment.item else ())
    return [s for p in planned for s in _item_sources(p.item, picture=True)]


def soundtrack_sources(plan: TimelinePlan) -> list[Source]:
    """The stored files the soundtrack may read: clips with sound and the music."""
    items = [p.item for p in plan.visual if p.item.has_audio] + list(plan.background)
    return [s for item in items for s in _item_sources(item, picture=False)]
