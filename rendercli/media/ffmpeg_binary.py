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
    shipped = _shipped_binary()
    if shipped is not None:
        return shipped, "imageio-ffmpeg"
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise OperationFailed(
            "ffmpeg not found: install it, set RENDERCLI_FFMPEG, or pip install imageio-ffmpeg"
        ) from None
    return imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg"


def _shipped_binary() -> str | None:
    """The one executable ffmpeg in imageio-ffmpeg's `binaries` folder, found without
    importing the package: `get_ffmpeg_exe()` imports it and runs `ffmpeg -version`
    first (~35 ms per process). None when the folder does not hold exactly one, or
    IMAGEIO_FFMPEG_EXE chooses another (then imageio-ffmpeg decides, as before)."""
    import os
    from importlib.util import find_spec

    if os.environ.get("IMAGEIO_FFMPEG_EXE"):
        return None
    spec = find_spec("imageio_ffmpeg")
    if spec is None or spec.origin is None:
        return None
    folder = os.path.join(os.path.dirname(spec.origin), "binaries")
    try:
        names = [n for n in os.listdir(folder) if n.startswith("ffmpeg")]
    except OSError:
        return None
    found = [os.path.join(folder, n) for n in names
             if os.path.isfile(os.path.join(folder, n)) and os.access(os.path.join(folder, n),
                                                                       os.X_OK)]
    return found[0] if len(found) == 1 else None


def ffmpeg_path() -> str:
    """The ffmpeg executable to run."""
    from rendercli.config import get_settings

    return _find(get_settings().ffmpeg)[0]


def ffmpeg_source() -> str:
    """Where ffmpeg_path() came from: RENDERCLI_FFMPEG, PATH or imageio-ffmpeg."""
    from rendercli.config import get_settings

    return _find(get_settings().ffmpeg)[1]
