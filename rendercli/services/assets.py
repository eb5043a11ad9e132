"""Assets: media files in a project's timeline (and fonts), probed and content-addressed.

Adding is all-or-nothing: every file is staged and probed before anything is stored,
objects are placed in storage, and only then are the rows inserted in one transaction.
If that transaction fails, objects nobody references are removed again. From placing the
objects until the rows are committed the add holds storage's ingest guard, so the orphan
sweep (services.upkeep.sweeps) never takes an object whose row is on its way; if the
process is killed in between, that sweep removes the object later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from rendercli.config import Settings
from rendercli.errors import Conflict, InvalidInput
from rendercli.render.timeline import (
    DEFAULT_STILL_SECONDS,
    DURATION_TOLERANCE,
    MOTIONS,
    PICTURE_KINDS,
    parse_fit,
    parse_transition,
    parse_volume,
    volume_as_written,
)
from rendercli.repositories import items as repo
from rendercli.repositories.items import ItemRow
from rendercli.services.items import (
    AssetView,
    TimelineView,
    asset_view,
    find_item,
    picture_duration,
    read_items,
    timeline_duration,
)
from rendercli.services.projects import ensure_not_rendering, owned_project, owned_project_id
from rendercli.services.renders.timeline import check_timeline
from rendercli.services.unit_of_work import UnitOfWork
from rendercli.services.upkeep.sweeps import database_fingerprint, remove_unreferenced_objects
from rendercli.services.uploads import UploadProgress, publish_objects

if TYPE_CHECKING:
    from rendercli.media.ingest import StagedMedia
    from rendercli.storage import StoredFile

__all__ = ["AssetView", "Edits", "TimelineView", "add", "get", "list_assets", "remove",
           "remove_unreferenced_objects", "timeline_duration", "update_asset"]

log = logging.getLogger(__name__)

TIMELINE_KINDS = ("video", "image", "audio", "title")


@dataclass(frozen=True)
class Edits:
    """Per-item settings from `asset add` / `asset update`. None means "not given".

    On `asset add` with several files, each setting applies to the files it fits (e.g.
    `--duck` to the music among them), and at least one must fit.
    """

    duration: float | None = None  # images and titles: seconds shown
    trim_start: float | None = None  # video and audio
    trim_end: float | None = None  # video and audio
    transition: str | None = None  # picture items: KIND[:SECONDS] into the next one
    fade_in: float | None = None  # seconds: picture from black, sound from silence
    fade_out: float | None = None
    volume: str | None = None  # clips and music: a gain 0..4 or decibels ("-6dB")
    mute: bool | None = None  # clips and music
    duck: bool | None = None  # music: lowered under clip sound
    motion: str | None = None  # stills: zoom-in | zoom-out | pan-left | pan-right | none
    fit: str | None = None  # clips and stills: contain | cover | blur | default (the project's)


# Which kinds each timeline setting fits, and how messages name it.
_FITS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "duration": (("image", "title"), "--duration", "images and titles"),
    "trim_start": (("video", "audio"), "--trim-start", "video and audio"),
    "trim_end": (("video", "audio"), "--trim-end", "video and audio"),
    "transition": (PICTURE_KINDS, "--transition", "picture items (video, images, titles)"),
    "fade_in": (TIMELINE_KINDS, "--fade-in", "timeline items"),
    "fade_out": (TIMELINE_KINDS, "--fade-out", "timeline items"),
    "volume": (("video", "audio"), "--volume", "clips and music"),
    "mute": (("video", "audio"), "--mute", "clips and music"),
    "duck": (("audio",), "--duck", "music (audio items)"),
    "motion": (("image",), "--motion", "still images"),
    "fit": (("video", "image"), "--fit", "clips and stills"),
}


def _given(edits: Edits) -> list[str]:
    return [f.name for f in fields(Edits) if getattr(edits, f.name) is not None]


def _check_number(name: str, value: float | None, settings: Settings) -> None:
    if value is None:
        return
    if value != value or value < 0:  # NaN or negative
        raise InvalidInput(f"{name} must be a number of seconds >= 0")
    if value > settings.max_duration:
        raise InvalidInput(f"{name} is above the {settings.max_duration:g} s limit")


def _apply_edits(asset: ItemRow, edits: Edits, *, adding: bool) -> None:
    """Validate edits against the item and apply them; errors name the item.

    When adding several files, settings that do not fit this item's kind are skipped
    (`_check_edits_fit` made sure each fits one of them).
    """
    name = asset.display_name
    for setting in _given(edits):
        kinds, option, fits = _FITS[setting]
        if asset.kind not in kinds and not adding:
            if asset.kind == "font":
                raise InvalidInput(f"{name}: fonts are not on the timeline; {option} does "
                                   "not apply")
            article = "an" if asset.kind[0] in "aeiou" else "a"
            raise InvalidInput(f"{name}: {option} applies to {fits}, not to {article} "
                               f"{asset.kind} item")
    fits = {s for s in _given(edits) if asset.kind in _FITS[s][0]}
    if asset.kind in ("image", "title"):
        if "duration" in fits:
            assert edits.duration is not None
            if edits.duration <= 0:
                raise InvalidInput(f"{name}: --duration must be more than 0 seconds")
            asset.still_duration = edits.duration
        elif asset.still_duration is None and asset.kind == "image":
            asset.still_duration = DEFAULT_STILL_SECONDS
    elif asset.kind in ("video", "audio"):
        _apply_trims(asset, edits)
    if "transition" in fits:
        assert edits.transition is not None
        transition = parse_transition(edits.transition)
        asset.transition, asset.transition_seconds = transition.kind, transition.seconds
    if "fade_in" in fits:
        asset.fade_in = edits.fade_in  # type: ignore[assignment]
    if "fade_out" in fits:
        asset.fade_out = edits.fade_out  # type: ignore[assignment]
    if "volume" in fits:
        assert edits.volume is not None
        asset.volume = parse_volume(edits.volume)
        asset.volume_text = volume_as_written(edits.volume)
    if "mute" in fits:
        asset.mute = bool(edits.mute)
    if "duck" in fits:
        asset.duck = bool(edits.duck)
    if "motion" in fits:
        motion = edits.motion
        if motion != "none" and motion not in MOTIONS:
            raise InvalidInput(f"unknown --motion {motion!r}; choose one of "
                               f"{', '.join(MOTIONS)} or none")
        asset.motion = None if motion == "none" else motion
    if "fit" in fits:
        assert edits.fit is not None
        asset.fit = None if edits.fit == "default" else parse_fit(edits.fit)


def _apply_trims(asset: ItemRow, edits: Edits) -> None:
    name = asset.display_name
    length = asset.duration or 0.0
    start = edits.trim_start if edits.trim_start is not None else asset.trim_start
    end = edits.trim_end if edits.trim_end is not None else asset.trim_end
    if start is not None and start >= length - DURATION_TOLERANCE:
        raise InvalidInput(f"{name}: --trim-start {start:g} is not before the end ({length:g} s)")
    if end is not None and end > length + DURATION_TOLERANCE:
        raise InvalidInput(f"{name}: --trim-end {end:g} is past the end ({length:g} s)")
    if end is not None and end <= (start or 0.0):
        raise InvalidInput(f"{name}: --trim-end {end:g} must be after --trim-start {start or 0:g}")
    if asset.kind == "video" and asset.frame_rate:
        frame = 1.0 / asset.frame_rate
        kept = (end if end is not None else length) - (start or 0.0)
        if kept < frame - DURATION_TOLERANCE:
            raise InvalidInput(
                f"{name}: the trimmed part is {kept:.3f} s, shorter than one frame "
                f"({frame:.3f} s at {asset.frame_rate:g} fps)"
            )
    asset.trim_start = start or None
    asset.trim_end = None if end is None or end >= length - DURATION_TOLERANCE else end


def _validate_edits_given(edits: Edits, settings: Settings) -> None:
    """Shape checks that need no row: numbers in range, values parse."""
    _check_number("--duration", edits.duration, settings)
    _check_number("--trim-start", edits.trim_start, settings)
    _check_number("--trim-end", edits.trim_end, settings)
    _check_number("--fade-in", edits.fade_in, settings)
    _check_number("--fade-out", edits.fade_out, settings)
    if edits.transition is not None:
        parse_transition(edits.transition)
    if edits.volume is not None:
        parse_volume(edits.volume)
    if edits.motion is not None and edits.motion != "none" and edits.motion not in MOTIONS:
        raise InvalidInput(f"unknown --motion {edits.motion!r}; choose one of "
                           f"{', '.join(MOTIONS)} or none")
    if edits.fit is not None and edits.fit != "default":
        parse_fit(edits.fit)


def add(
    uow: UnitOfWork,
    user_id: str,
    project_ref: str,
    paths: list[Path],
    edits: Edits | None = None,
    *,
    position: int | None = None,
    uploads: UploadProgress | None = None,
) -> list[AssetView]:
    """Add files to a project, in the order given, all or nothing.

    Each file is copied into storage once, probed, and rejected with a one-line reason
    naming it if it is not acceptable media or a usable TTF/OTF font. Media go on the
    timeline (at the 1-based `position`, else at the end); fonts are kept with the
    project for titles and texts. The timeline as changed is checked before anything
    is committed (transitions must fit their neighbours, and so on). With a bucket
    (RENDERCLI_STORAGE_URL), objects it lacks are uploaded before any row is written
    (`uploads` hears the progress): a failed upload leaves no asset.
    """
    from rendercli import storage
    from rendercli.media import ingest

    settings = uow.settings
    edits = edits or Edits()
    _validate_edits_given(edits, settings)
    if not paths:
        raise InvalidInput("no files given")
    with uow:
        owned_project_id(uow.rows, user_id, project_ref)  # fail fast before copying anything
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
            _apply_edits(row, edits, adding=True)
    except BaseException:
        ingest.discard_all(staged)
        raise
    stored: list[StoredFile] = []
    try:
        storage.mark_database(settings.storage_dir, database_fingerprint(settings.database_url))
        with storage.ingest_guard(settings.storage_dir, settings.ingest_guard_wait), uow:
            stored = ingest.commit_all(staged)
            # Copied while hashed (an object already there was checked): no second read.
            publish_objects(uow.settings, {obj.key: obj.path for obj in stored},
                            progress=uploads, just_hashed=True)
            project_id = owned_project_id(uow.rows, user_id, project_ref)
            repo.lock_projects(uow.rows, project_id)
            placed = [r for r in rows if r.kind != "font"]
            if position is not None and not placed:
                raise InvalidInput("--position does not apply to fonts: they are not on "
                                   "the timeline")
            first = repo.check_position(position, repo.count_positions(uow.rows, project_id),
                                        adding=len(placed))
            repo.shift_positions(uow.rows, project_id, first, len(placed))
            for offset, row in enumerate(placed):
                row.position = first + offset
            for row, obj in zip(rows, stored, strict=True):
                row.project_id = project_id
                row.storage_key = obj.key
                repo.insert_item(uow.rows, row)
                uow.record_event(
                    "asset.added",
                    user_id,
                    project_id=project_id,
                    kind=row.kind,
                    size_bytes=row.size_bytes,
                    duration=row.duration,
                )
            check_timeline(uow, project_id)
            views = [asset_view(r) for r in rows]
            uow.commit()
            return views
    except BaseException:
        ingest.discard_all(staged)
        remove_unreferenced_objects(uow, [obj.key for obj in stored if obj.created],
                                    reason="asset add failed before its rows were committed")
        raise


def _row_for(item: StagedMedia) -> ItemRow:
    return repo.new_item({**item.info.columns(), "display_name": item.display_name,
                          "sha256": item.staged.sha256, "size_bytes": item.staged.size})


def _check_edits_fit(rows: list[ItemRow], edits: Edits) -> None:
    kinds = {r.kind for r in rows}
    for setting in _given(edits):
        fits, option, what = _FITS[setting]
        if not kinds & set(fits):
            if setting == "duration":
                raise InvalidInput("--duration applies to images; use --trim-start/--trim-end "
                                   "for clips")
            if setting.startswith("trim"):
                raise InvalidInput("--trim-start/--trim-end apply to video and audio, not "
                                   "images")
            raise InvalidInput(f"{option} applies to {what}; none of the files is one")


def list_assets(uow: UnitOfWork, user_id: str, project_ref: str) -> TimelineView:
    """A project's items in timeline order (then its fonts), with the total duration."""
    with uow:
        project_id, project_name = owned_project(uow.rows, user_id, project_ref)
        rows = read_items(uow.rows, project_id)
        audio = sum(timeline_duration(a) for a in rows if a.kind == "audio")
        return TimelineView(
            project_id=project_id,
            project_name=project_name,
            assets=[asset_view(a) for a in rows],
            total_duration=round(picture_duration(rows), 6),
            audio_duration=round(audio, 6),
        )


def get(uow: UnitOfWork, user_id: str, asset_id: str) -> AssetView:
    """One of the user's items by id."""
    with uow:
        return asset_view(find_item(uow.rows, user_id, asset_id))


def update_asset(
    uow: UnitOfWork, user_id: str, asset_id: str, edits: Edits, *, position: int | None = None
) -> AssetView:
    """Move an item and/or change its settings: trims (video, audio), duration (images,
    titles), transition, fades, volume, mute, duck, motion, fit. Checks the whole timeline
    as changed before committing."""
    settings = uow.settings
    _validate_edits_given(edits, settings)
    if position is None and edits == Edits():
        raise InvalidInput("nothing to update: give --position, --trim-start, --trim-end, "
                           "--duration, --transition, --fade-in, --fade-out, --volume, "
                           "--mute, --duck, --motion or --fit")
    with uow:
        asset = find_item(uow.rows, user_id, asset_id)
        repo.lock_projects(uow.rows, asset.project_id)
        _apply_edits(asset, edits, adding=False)
        if position is not None:
            repo.move_item(uow.rows, asset, position)
        repo.update_item(uow.rows, asset)
        check_timeline(uow, asset.project_id)
        uow.commit()
        return asset_view(asset)


def remove(uow: UnitOfWork, user_id: str, asset_id: str) -> AssetView:
    """Remove an item (media, title or font), renumber the rest, and delete its file if
    nothing else uses it. A font that titles or texts use cannot be removed."""
    from rendercli import storage

    with uow:
        rows = uow.rows
        asset = find_item(rows, user_id, asset_id)
        project_id, name = owned_project(rows, user_id, asset.project_id)
        ensure_not_rendering(rows, project_id, name, "remove its assets")
        if asset.storage_key is not None:
            storage.check_digest(asset.storage_key)  # a tampered row: refuse, remove nothing
        repo.lock_projects(rows, project_id)
        if asset.kind == "font":
            titles, texts = repo.font_users(rows, asset.id)
            if titles or texts:
                raise Conflict(
                    f"font {asset.display_name} is used by {titles} title(s) and {texts} "
                    "text(s): give them another font (--font ASSET or --font default) "
                    "or remove them first"
                )
        view = asset_view(asset)
        repo.delete_item(rows, asset.id)
        repo.close_gap(rows, project_id, view.position)
        uow.commit()
    remove_unreferenced_objects(uow, [asset.storage_key],
                                reason="asset remove: no asset uses it any more")
    return view
