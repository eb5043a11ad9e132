"""Assets: media files in a project's timeline, probed and content-addressed.

Adding is all-or-nothing: every file is staged and probed before anything is stored,
objects are placed in storage, and only then are the rows inserted in one transaction.
If that transaction fails, objects nobody references are removed again. From placing the
objects until the rows are committed the add holds storage's ingest guard, so the orphan
sweep (services.housekeeping) never takes an object whose row is on its way; if the
process is killed in between, that sweep removes the object later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from rendercli.config import Settings, get_settings
from rendercli.db.models import Asset, Project
from rendercli.db.types import utcnow
from rendercli.errors import InvalidInput, NotFound
from rendercli.services.projects import ensure_not_rendering, find_owned
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.storage import StoredFile

log = logging.getLogger(__name__)

DEFAULT_STILL_SECONDS = 3.0
TRIM_TOLERANCE = 0.001  # seconds; probed durations are rounded by containers


@dataclass(frozen=True)
class AssetView:
    """An asset as callers see it: its columns (the probed ones are `MediaInfo`'s facts,
    in the same order) and the seconds it occupies on the timeline."""

    id: str
    project_id: str
    position: int  # 1-based place in the timeline
    kind: str
    display_name: str
    timeline_duration: float  # seconds it occupies: trimmed length, or an image's duration
    duration: float | None  # probed duration of the source
    trim_start: float | None
    trim_end: float | None
    still_duration: float | None
    width: int | None
    height: int | None
    frame_rate: float | None
    rotation: int
    container: str
    video_codec: str | None
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    size_bytes: int
    sha256: str
    created_at: datetime
    updated_at: datetime


_COLUMNS = frozenset(Asset.__table__.columns.keys())


@dataclass(frozen=True)
class TimelineView:
    project_id: str
    project_name: str
    assets: list[AssetView]
    total_duration: float  # the picture timeline: videos and images (audio lays under it)
    audio_duration: float  # background audio before it is cut at the end of the timeline


@dataclass(frozen=True)
class Edits:
    """Per-asset settings from `asset add` / `asset update`. None means "not given"."""

    duration: float | None = None  # images
    trim_start: float | None = None  # video and audio
    trim_end: float | None = None  # video and audio


def timeline_duration(asset: Asset) -> float:
    """The seconds an asset occupies on the timeline."""
    if asset.kind == "image":
        return asset.still_duration or DEFAULT_STILL_SECONDS
    start = asset.trim_start or 0.0
    end = asset.trim_end if asset.trim_end is not None else (asset.duration or 0.0)
    return max(0.0, end - start)


def _view(asset: Asset) -> AssetView:
    values = {f.name: getattr(asset, f.name) for f in fields(AssetView) if f.name in _COLUMNS}
    return AssetView(timeline_duration=round(timeline_duration(asset), 6), **values)


def _check_number(name: str, value: float | None, settings: Settings) -> None:
    if value is None:
        return
    if value != value or value < 0:  # NaN or negative
        raise InvalidInput(f"{name} must be a number of seconds >= 0")
    if value > settings.max_duration:
        raise InvalidInput(f"{name} is above the {settings.max_duration:g} s limit")


def _apply_edits(asset: Asset, edits: Edits, settings: Settings, *, adding: bool) -> None:
    """Validate edits against the probed media and apply them; errors name the file."""
    name = asset.display_name
    if asset.kind == "image":
        if (edits.trim_start is not None or edits.trim_end is not None) and not adding:
            raise InvalidInput(f"{name}: trims apply to video and audio, not images")
        if edits.duration is not None:
            if edits.duration <= 0:
                raise InvalidInput(f"{name}: --duration must be more than 0 seconds")
            asset.still_duration = edits.duration
        elif asset.still_duration is None:
            asset.still_duration = DEFAULT_STILL_SECONDS
        return
    if edits.duration is not None and not adding:
        raise InvalidInput(f"{name}: --duration applies to images; use --trim-start/--trim-end")
    length = asset.duration or 0.0
    start = edits.trim_start if edits.trim_start is not None else asset.trim_start
    end = edits.trim_end if edits.trim_end is not None else asset.trim_end
    if start is not None and start >= length - TRIM_TOLERANCE:
        raise InvalidInput(f"{name}: --trim-start {start:g} is not before the end ({length:g} s)")
    if end is not None and end > length + TRIM_TOLERANCE:
        raise InvalidInput(f"{name}: --trim-end {end:g} is past the end ({length:g} s)")
    if end is not None and end <= (start or 0.0):
        raise InvalidInput(f"{name}: --trim-end {end:g} must be after --trim-start {start or 0:g}")
    if asset.kind == "video" and asset.frame_rate:
        frame = 1.0 / asset.frame_rate
        kept = (end if end is not None else length) - (start or 0.0)
        if kept < frame - TRIM_TOLERANCE:
            raise InvalidInput(
                f"{name}: the trimmed part is {kept:.3f} s, shorter than one frame "
                f"({frame:.3f} s at {asset.frame_rate:g} fps)"
            )
    asset.trim_start = start or None
    asset.trim_end = None if end is None or end >= length - TRIM_TOLERANCE else end


def _validate_edits_given(edits: Edits, settings: Settings) -> None:
    _check_number("--duration", edits.duration, settings)
    _check_number("--trim-start", edits.trim_start, settings)
    _check_number("--trim-end", edits.trim_end, settings)


def _find_asset(uow: UnitOfWork, user_id: str, asset_id: str) -> Asset:
    asset = uow.session.scalars(
        select(Asset).join(Project).where(Asset.id == asset_id, Project.owner_id == user_id)
    ).first()
    if asset is None:
        raise NotFound(f"asset not found: {asset_id}")
    return asset


def _lock_project(uow: UnitOfWork, project: Project) -> None:
    # Writing first takes the row lock (PostgreSQL) or the write lock (SQLite) before we
    # read positions, so concurrent edits of one timeline serialize instead of colliding.
    uow.session.execute(update(Project).where(Project.id == project.id).values(updated_at=utcnow()))


def _count(uow: UnitOfWork, project_id: str) -> int:
    return (
        uow.session.scalar(
            select(func.count()).select_from(Asset).where(Asset.project_id == project_id)
        )
        or 0
    )


def _shift(
    uow: UnitOfWork, project_id: str, from_position: int, by: int, to_position: int | None = None
) -> None:
    query = update(Asset).where(Asset.project_id == project_id, Asset.position >= from_position)
    if to_position is not None:
        query = query.where(Asset.position <= to_position)
    uow.session.execute(query.values(position=Asset.position + by))


def _check_position(position: int | None, count: int, adding: int) -> int:
    last = count + 1 if adding else count
    if position is None:
        return last
    if not 1 <= position <= last:
        raise InvalidInput(f"--position must be between 1 and {last}")
    return position


def add(
    uow: UnitOfWork,
    user_id: str,
    project_ref: str,
    paths: list[Path],
    edits: Edits | None = None,
    *,
    position: int | None = None,
) -> list[AssetView]:
    """Add files to a project's timeline, in the order given, all or nothing.

    Each file is copied into storage once, probed, and rejected with a one-line reason
    naming it if it is not acceptable media. `position` (1-based) inserts them there.
    """
    from rendercli import storage
    from rendercli.media import ingest
    from rendercli.services.housekeeping import database_fingerprint

    settings = get_settings()
    edits = edits or Edits()
    _validate_edits_given(edits, settings)
    if not paths:
        raise InvalidInput("no files given")
    with uow:
        find_owned(uow, user_id, project_ref)  # fail fast before copying anything
    limits = ingest.Limits(
        max_file_size=settings.max_file_size,
        max_duration=settings.max_duration,
        max_dimension=settings.max_dimension,
    )
    # What killed adds left in tmp/ goes first (cheap: one directory listing).
    storage.clean_temp_files(settings.storage_dir, older_than=settings.job_timeout + 3600)
    staged = ingest.stage_and_probe_all(paths, settings.storage_dir, limits)
    try:
        rows = [_row_for(item) for item in staged]
        _check_edits_fit(rows, edits)
        for row in rows:
            _apply_edits(row, edits, settings, adding=True)
    except BaseException:
        ingest.discard_all(staged)
        raise
    stored: list[StoredFile] = []
    try:
        storage.mark_database(settings.storage_dir, database_fingerprint(settings.database_url))
        with storage.ingest_guard(settings.storage_dir), uow:
            stored = ingest.commit_all(staged)
            project = find_owned(uow, user_id, project_ref)
            _lock_project(uow, project)
            count = _count(uow, project.id)
            first = _check_position(position, count, adding=len(rows))
            _shift(uow, project.id, first, len(rows))
            for offset, (row, obj) in enumerate(zip(rows, stored, strict=True)):
                row.project_id = project.id
                row.position = first + offset
                row.storage_key = obj.key
                uow.session.add(row)
                uow.record_event(
                    "asset.added",
                    user_id,
                    project_id=project.id,
                    kind=row.kind,
                    size_bytes=row.size_bytes,
                    duration=row.duration,
                )
            uow.session.flush()
            views = [_view(r) for r in rows]
            uow.commit()
            return views
    except BaseException:
        ingest.discard_all(staged)
        remove_unreferenced_objects(uow, [obj.key for obj in stored if obj.created])
        raise


def _row_for(item) -> Asset:  # type: ignore[no-untyped-def]
    now = utcnow()
    return Asset(
        **item.info.columns(),
        display_name=item.display_name,
        sha256=item.staged.sha256,
        size_bytes=item.staged.size,
        created_at=now,
        updated_at=now,
    )


def _check_edits_fit(rows: list[Asset], edits: Edits) -> None:
    kinds = {r.kind for r in rows}
    if edits.duration is not None and "image" not in kinds:
        raise InvalidInput("--duration applies to images; use --trim-start/--trim-end for clips")
    trimming = edits.trim_start is not None or edits.trim_end is not None
    if trimming and not kinds & {"video", "audio"}:
        raise InvalidInput("--trim-start/--trim-end apply to video and audio, not images")


def remove_unreferenced_objects(uow: UnitOfWork, keys: list[str]) -> None:
    """Delete stored objects that no asset row refers to (best effort: what is left, the
    orphan sweep removes later). Malformed keys are never turned into paths."""
    from rendercli import storage

    keys = [k for k in keys if storage.is_digest(k)]
    if not keys:
        return
    directory = get_settings().storage_dir
    # No ingest may be between placing an object and committing its row meanwhile.
    with storage.exclusive_objects(directory, wait=2.0) as alone:
        if not alone:
            log.info("an ingest is in flight: unreferenced objects left to the sweep")
            return
        try:
            with uow:
                from rendercli.db.tenancy import storage_keys_in_use

                # Any account's assets: under row security a client sees only its own.
                used = storage_keys_in_use(uow.session, keys)
        except Exception:
            return  # cannot tell: keeping a file is safer than losing one
        for key in set(keys) - used:
            try:
                storage.remove_object(directory, key)
            except (OSError, ValueError) as exc:  # the row is gone; a stray file is harmless
                log.warning("could not remove stored object %s: %s", key, exc)


def list_assets(uow: UnitOfWork, user_id: str, project_ref: str) -> TimelineView:
    """A project's assets in timeline order, with the total timeline duration."""
    with uow:
        project = find_owned(uow, user_id, project_ref)
        rows = uow.session.scalars(
            select(Asset).where(Asset.project_id == project.id).order_by(Asset.position)
        ).all()
        picture = sum(timeline_duration(a) for a in rows if a.kind != "audio")
        audio = sum(timeline_duration(a) for a in rows if a.kind == "audio")
        return TimelineView(
            project_id=project.id,
            project_name=project.name,
            assets=[_view(a) for a in rows],
            total_duration=round(picture, 6),
            audio_duration=round(audio, 6),
        )


def get(uow: UnitOfWork, user_id: str, asset_id: str) -> AssetView:
    """One of the user's assets by id."""
    with uow:
        return _view(_find_asset(uow, user_id, asset_id))


def update_asset(
    uow: UnitOfWork, user_id: str, asset_id: str, edits: Edits, *, position: int | None = None
) -> AssetView:
    """Move an asset and/or change its trims (video, audio) or duration (images)."""
    settings = get_settings()
    _validate_edits_given(edits, settings)
    if position is None and edits == Edits():
        raise InvalidInput("nothing to update: give --position, --trim-start, --trim-end or "
                           "--duration")
    with uow:
        asset = _find_asset(uow, user_id, asset_id)
        _lock_project(uow, asset.project)
        _apply_edits(asset, edits, settings, adding=False)
        if position is not None:
            target = _check_position(position, _count(uow, asset.project_id), adding=0)
            current = asset.position
            if target < current:
                _shift(uow, asset.project_id, target, 1, to_position=current - 1)
            elif target > current:
                _shift(uow, asset.project_id, current + 1, -1, to_position=target)
            asset.position = target
        asset.updated_at = utcnow()
        uow.session.flush()
        uow.session.refresh(asset)
        view = _view(asset)
        uow.commit()
        return view


def remove(uow: UnitOfWork, user_id: str, asset_id: str) -> AssetView:
    """Remove an asset, renumber the rest, and delete its file if nothing else uses it."""
    from rendercli import storage

    with uow:
        asset = _find_asset(uow, user_id, asset_id)
        ensure_not_rendering(uow, asset.project, "remove its assets")
        storage.check_digest(asset.storage_key)  # a tampered row: refuse, remove nothing
        _lock_project(uow, asset.project)
        view = _view(asset)
        uow.session.delete(asset)
        uow.session.flush()
        _shift(uow, asset.project_id, view.position + 1, -1)
        uow.commit()
    remove_unreferenced_objects(uow, [asset.storage_key])
    return view
