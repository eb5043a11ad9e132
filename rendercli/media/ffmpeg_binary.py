"""Locate the ffmpeg binary: RENDERCLI_FFMPEG, then PATH, then the imageio-ffmpeg package."""

from __future__ import annotations

import shutil
from functools import lru_cache

from rendercli.errors import OperationFailed


@lru_cache(maxsize=8)
def _find(explicit: str | None) -> tuple[str, str]:
    if explicit:
        found = shutil.which(explicit)
        if not found:
            raise OperationFailed(f"RENDERCLI_FFMPEG={explicit} is not an executable file")
        return found, "RENDERCLI_FFMPEG"
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path, "PATH"
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise OperationFailed(
            "ffmpeg not found: install it, set RENDERCLI_FFMPEG, or pip install imageio-ffmpeg"
        ) from None
    return imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg"


def ffmpeg_path() -> str:
    """The ffmpeg executable to run."""
    from rendercli.config import get_settings

    return _find(get_settings().ffmpeg)[0]


def ffmpeg_source() -> str:
    """Where ffmpeg_path() came from: RENDERCLI_FFMPEG, PATH or imageio-ffmpeg."""
    from rendercli.config import get_settings

    return _find(get_settings().ffmpeg)[1]
