"""Stored inputs are what their keys say: checked before anything made from them is cached.

Storage is content-addressed (an object's key is the SHA-256 of its bytes) and cache
keys are derived from those keys. Whoever can write to the storage directory could put
other bytes under a key, and a segment encoded from them would then be served to every
later render of the real content, any account's. So each ffmpeg step that reads stored
files checks them twice: before ffmpeg starts, each file's bytes must hash to its key;
before the step's output is published, each file must still be the one checked (same
device, inode, size, mtime and ctime). A mismatch fails the step and nothing is
published.

A file's hash is remembered under its identity (rendercli.media.hash_memo, shared with
`apply`): an unchanged object is read once per machine.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rendercli.media.hash_memo import HashMemo, Identity, default_memo, identity
from rendercli.render.errors import RenderFailed
from rendercli.render.timeline import PlannedItem, Segment, TimelineItem, TimelinePlan

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Source:
    """A stored file a step reads, the SHA-256 its key promises, and how messages name
    it (the asset)."""

    path: Path
    sha256: str
    name: str


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
