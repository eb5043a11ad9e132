"""Ingest: stage a copy, probe the copy, then commit it to storage or discard it.

The source file is read exactly once (while it is copied and hashed); everything after
that, probing included, works on the staged copy, so what was validated is what is stored.
A staged copy that starts like a font is checked as one (media/fonts.py); any other file
goes to the media probe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rendercli.media.fonts import looks_like_font, probe_font, read_head
from rendercli.media.info import MediaInfo
from rendercli.media.probe import probe
from rendercli.media.validate import open_regular_file, safe_display_name
from rendercli.storage import (
    StagedFile,
    StoredFile,
    commit_staged,
    discard_staged,
    remove_object,
    stage_open_file,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedMedia:
    """A probed, accepted file waiting in storage's tmp/ to be committed or discarded."""

    display_name: str  # sanitised base name of the source, for messages and the asset name
    staged: StagedFile
    info: MediaInfo


@dataclass(frozen=True)
class Limits:
    """Per-asset limits (normally from Settings)."""

    max_file_size: int
    max_duration: float
    max_dimension: int


def stage_file(src: Path, storage_dir: Path, *, display_name: str | None = None,
               max_file_size: int | None = None) -> StagedFile:
    """Check ``src`` and copy it into storage's ``tmp/`` while hashing it, reading it once.

    Rejections (missing, directory, unreadable, empty, above ``max_file_size``, or grown
    past it while copying) raise InvalidInput naming ``display_name`` (default: the
    sanitised base name). Storage I/O failures raise OperationFailed. No temporary file
    is left behind on any failure.
    """
    name = display_name if display_name is not None else safe_display_name(src)
    src_fd, _size = open_regular_file(src, display_name=name, max_file_size=max_file_size)
    try:
        return stage_open_file(src_fd, storage_dir, display_name=name,
                               max_file_size=max_file_size)
    finally:
        os.close(src_fd)


def store_file(src: Path, storage_dir: Path, *, display_name: str | None = None,
               max_file_size: int | None = None) -> StoredFile:
    """Stage and commit ``src`` in one step (no probe in between)."""
    staged = stage_file(src, storage_dir, display_name=display_name, max_file_size=max_file_size)
    try:
        return commit_staged(staged)
    except BaseException:
        discard_staged(staged)
        raise


def stage_and_probe(src: Path, storage_dir: Path, limits: Limits) -> StagedMedia:
    """Stage ``src`` and probe the staged copy; on rejection nothing is left in storage.

    Raises InvalidInput (naming the file) when the file is rejected.
    """
    name = safe_display_name(src)
    staged = stage_file(src, storage_dir, display_name=name, max_file_size=limits.max_file_size)
    try:
        info = probe_copy(staged.path, name, limits)
    except BaseException:
        discard_staged(staged)
        raise
    return StagedMedia(display_name=name, staged=staged, info=info)


def probe_copy(path: Path, display_name: str, limits: Limits) -> MediaInfo:
    """Probe a staged copy (or a stored object): a font by its signature, anything else
    with the media probe and its allow-list. InvalidInput naming the file if rejected."""
    if looks_like_font(read_head(path, display_name)):
        return probe_font(path, display_name=display_name)
    return probe(
        path,
        display_name=display_name,
        max_duration=limits.max_duration,
        max_dimension=limits.max_dimension,
    )


def stage_and_probe_all(
    sources: Sequence[Path], storage_dir: Path, limits: Limits
) -> list[StagedMedia]:
    """Stage and probe every source, all or nothing: on the first rejection the ones
    already staged are discarded and the rejection is raised."""
    done: list[StagedMedia] = []
    try:
        for src in sources:
            done.append(stage_and_probe(src, storage_dir, limits))
    except BaseException:
        discard_all(done)
        raise
    return done


def discard_all(items: Sequence[StagedMedia]) -> None:
    """Drop staged copies that will not be committed."""
    for item in items:
        discard_staged(item.staged)


def commit_all(items: Sequence[StagedMedia]) -> list[StoredFile]:
    """Commit staged copies as objects. If one fails, objects this call created are
    removed, the rest discarded, and the error raised."""
    stored: list[StoredFile] = []
    try:
        for item in items:
            stored.append(commit_staged(item.staged))
    except BaseException:
        rollback_created(stored)
        discard_all(items)
        raise
    return stored


def rollback_created(stored: Sequence[StoredFile]) -> None:
    """Remove the objects a failed ingest created (``created=True``); keep older ones.

    Call it only if no other asset row can reference those objects yet (e.g. while
    holding the database transaction that would have inserted the rows).
    """
    for item in stored:
        if item.created:
            try:
                remove_object(item.storage_dir, item.key,
                              reason="ingest failed before its asset rows were written")
            except OSError as exc:  # unreferenced: the orphan sweep removes it later
                log.warning("could not remove stored object %s: %s", item.key, exc)
