"""The ffmpeg binaries the engine tests run with: the bundled one (imageio-ffmpeg) and
the system's packaged one (Debian 12: 5.1, the stated minimum) when installed."""

from __future__ import annotations

import os
import shutil


def bundled_ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def system_ffmpeg() -> str | None:
    """/usr/bin/ffmpeg, else an ffmpeg on PATH, when it is not the bundled binary."""
    bundled = os.path.realpath(bundled_ffmpeg())
    for candidate in ("/usr/bin/ffmpeg", shutil.which("ffmpeg")):
        if (candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK)
                and os.path.realpath(candidate) != bundled):
            return candidate
    return None


def engine_ffmpegs() -> list[tuple[str, str]]:
    """(test id, path) of each binary to run the engine tests with."""
    found = [("bundled", bundled_ffmpeg())]
    system = system_ffmpeg()
    if system is not None:
        found.append(("system", system))
    return found
