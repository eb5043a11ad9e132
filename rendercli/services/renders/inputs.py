"""A render's input objects, made local before the engine runs.

With a bucket (RENDERCLI_STORAGE_URL) a worker's storage directory is a read-through
cache: every object a timeline reads (clips, stills, music, the fonts of texts and
titles) is fetched if missing, verified against its hash, and held (kept from eviction)
until the render is done. The engine then reads canonical local paths as always and
never knows where they came from. A bad object fails the render naming the asset; a
bucket that cannot be reached is a transient outage (StoreUnavailable: the task is
retried like a worker loss, never failed as bad input).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rendercli.errors import ObjectCorrupt, ObjectMissing
from rendercli.render.errors import RenderFailed

if TYPE_CHECKING:
    from rendercli.config import Settings
    from rendercli.render.timeline import TimelineItem


def input_hashes(items: Sequence[TimelineItem], *, media: bool = True) -> dict[str, str]:
    """SHA-256 -> how messages name it, for every stored file the timeline reads (with
    ``media`` False, its fonts only)."""
    found: dict[str, str] = {}
    for item in items:
        if media and item.kind != "title" and item.sha256:
            found.setdefault(item.sha256, item.name or item.path.name)
        fonts = [(text.font_sha256, text.font_name) for text in item.texts]
        if item.title is not None:
            fonts.append((item.title.font_sha256, item.title.font_name))
        for sha, name in fonts:
            if sha:
                found.setdefault(sha, f"font {name}" if name else "a font")
    return found


@contextlib.contextmanager
def localized_inputs(settings: Settings, items: Sequence[TimelineItem], *,
                     media: bool = True) -> Iterator[None]:
    """Every input of ``items`` (with ``media`` False: their fonts only, which planning
    reads) in the storage directory, verified, held until the block ends (nothing to do
    without a bucket). RenderFailed naming the asset when an object is missing from the
    bucket or its bytes do not match its hash (nothing is cached)."""
    if settings.storage_url is None:
        yield
        return
    from rendercli.objectstore import object_name, open_store

    names = input_hashes(items, media=media)
    wanted = {object_name(sha): sha for sha in names}
    held = contextlib.ExitStack()
    try:
        held.enter_context(open_store(settings).localized(wanted))
    except (ObjectCorrupt, ObjectMissing) as exc:
        shown = next((name for sha, name in names.items() if sha in exc.message), "an input")
        problem = ("does not match its hash in the bucket (replaced by another writer?); "
                   "nothing was cached" if isinstance(exc, ObjectCorrupt)
                   else "is missing from the bucket")
        raise RenderFailed(f"{shown}: the stored file {problem}: {exc.message}") from None
    with held:
        yield
