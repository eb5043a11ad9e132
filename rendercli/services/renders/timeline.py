"""Turn a project's asset rows into the render engine's timeline items."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rendercli.db.models import Asset
from rendercli.render.timeline import TimelineItem
from rendercli.services.assets import timeline_duration


def timeline_items(assets: Sequence[Asset], storage_dir: Path) -> list[TimelineItem]:
    """Items in position order, reading files from content-addressed storage."""
    from rendercli.storage import object_path

    return [
        TimelineItem(
            path=object_path(storage_dir, asset.storage_key),
            sha256=asset.sha256,
            kind=asset.kind,  # type: ignore[arg-type]
            duration=timeline_duration(asset),
            trim_start=asset.trim_start or 0.0 if asset.kind != "image" else 0.0,
            has_audio=asset.has_audio,
            width=asset.width,
            height=asset.height,
            rotation=asset.rotation,
        )
        for asset in sorted(assets, key=lambda a: a.position)
    ]
