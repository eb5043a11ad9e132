"""Which ffmpeg rendercli runs, and what it can do.

The choice: RENDERCLI_FFMPEG when set (used as given; a binary lacking a feature the
engine cannot do without is refused before anything renders); else the first ``ffmpeg``
on PATH when it has every feature the engine uses; else the bundled binary
(imageio-ffmpeg) when the one on PATH lacks something the bundled one has; else the
one on PATH, refused (one line naming what it lacks and the fix) when it still lacks
a feature. Titles and texts are drawn by libass (the ``ass`` filter), so no drawtext
option newer than the minimum version is needed.

Features are detected once per binary (``-version``, ``-filters``, ``-encoders``) and
remembered on disk under ``<data dir>/cache/ffmpeg``, keyed
by the binary's path, size and modification time. The minimum version is MIN_VERSION
(Debian 12's ffmpeg).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rendercli.config import get_settings
from rendercli.errors import OperationFailed, RenderCliError
from rendercli.render.runner import capture

MIN_VERSION = (5, 1)
MIN_VERSION_TEXT = "5.1"
# Filters the engine's graphs use: without any of them nothing (or no sound) renders.
REQUIRED_FILTERS = (
    "scale", "format", "pad", "setsar", "setparams", "fps", "tpad", "trim", "loop", "settb",
    "setpts", "premultiply", "perspective", "color", "drawtext", "ass", "fade", "xfade", "concat",
    "tile", "palettegen", "paletteuse", "acrossfade", "afade", "aformat", "amix",
    "anullsrc", "apad", "aresample", "asplit", "atrim", "volume", "sidechaincompress",
    "ebur128", "alimiter",
)
REQUIRED_ENCODERS = ("libx264", "aac")  # mp4 (and gif's intermediates)
WEBM_ENCODERS = ("libvpx-vp9", "libopus")
LIBASS_FILTERS = ("ass", "subtitles")
FIX = (f"install ffmpeg {MIN_VERSION_TEXT} or newer built with libx264 (Debian 12: "
       "apt-get install ffmpeg), or unset RENDERCLI_FFMPEG to use the bundled one "
       "(pip install imageio-ffmpeg)")

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_NAMES = 5000
_FORMAT = 2  # layout of the remembered answer


@dataclass(frozen=True)
class Features:
    """What one ffmpeg binary reports it can do."""

    version: str
    filters: frozenset[str]
    encoders: frozenset[str]

    @property
    def version_number(self) -> tuple[int, int] | None:
        """(major, minor) of a release ("5.1.9-0+deb12u1", "n9.0.2-17-g..."); None for a
        git snapshot ("N-112345-g...") or anything else."""
        match = re.match(r"n?(\d{1,3})\.(\d{1,3})", self.version)
        return (int(match.group(1)), int(match.group(2))) if match else None

    def missing(self) -> list[str]:
        """Features the engine cannot do without, as people name them."""
        out = []
        number = self.version_number
        if number is not None and number < MIN_VERSION:
            out.append(f"version {MIN_VERSION_TEXT} or newer")
        out += [f"the {name} filter" for name in REQUIRED_FILTERS if name not in self.filters]
        out += [f"the {name} encoder" for name in REQUIRED_ENCODERS
                if name not in self.encoders]
        return out

    @property
    def libass(self) -> bool:
        return all(name in self.filters for name in LIBASS_FILTERS)

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "filters": sorted(self.filters),
                "encoders": sorted(self.encoders)}

    @classmethod
    def from_json(cls, data: object) -> Features | None:
        """From a remembered answer; None unless every value has the shape ours have."""
        if not isinstance(data, dict):
            return None
        version = data.get("version")
        if not (isinstance(version, str) and 0 < len(version) <= 100
                and version.isprintable()):
            return None
        sets = []
        for key in ("filters", "encoders"):
            names = data.get(key)
            if not (isinstance(names, list) and len(names) <= _MAX_NAMES and all(
                    isinstance(n, str) and _NAME.fullmatch(n) for n in names)):
                return None
            sets.append(frozenset(names))
        return cls(version, *sets)


@dataclass(frozen=True)
class Choice:
    """The ffmpeg in use: its path, where it came from, why, and what it can do."""

    path: str
    source: str  # RENDERCLI_FFMPEG, PATH or imageio-ffmpeg
    reason: str
    features: Features


# -- detection ------------------------------------------------------------------------------


def _names(listing: str, flags: re.Pattern[str]) -> frozenset[str]:
    found = set()
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and flags.fullmatch(parts[0]) and _NAME.fullmatch(parts[1]):
            found.add(parts[1])
    return frozenset(list(found)[:_MAX_NAMES])


def _detect(path: str) -> Features:
    try:
        return _run_detection(path)
    except RenderCliError as exc:
        why = getattr(exc, "reason", None) or exc.message  # RenderFailed: ffmpeg's line
        raise OperationFailed(f"ffmpeg {path} does not run: {why}") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise OperationFailed(f"ffmpeg {path} does not run: {exc}") from None


def _run_detection(path: str) -> Features:
    first = (capture([path, "-hide_banner", "-version"]).splitlines() or [""])[0]
    version = first.removeprefix("ffmpeg version ").split(" ")[0][:100] or "unknown"
    if not version.isprintable():
        version = "unknown"
    filters = _names(capture([path, "-hide_banner", "-filters"]), re.compile(r"[TSC.]{2,3}"))
    encoders = _names(capture([path, "-hide_banner", "-encoders"]),
                      re.compile(r"[VASFXBD.]{6}"))
    return Features(version, filters, encoders)


def _cache_file(path: str) -> Path:
    digest = hashlib.sha256(path.encode()).hexdigest()[:32]
    return get_settings().data_dir / "cache" / "ffmpeg" / f"{digest}.json"  # no App: engine cache


def features(path: str) -> Features:
    """What the ffmpeg at ``path`` can do: remembered on disk per path, size and
    modification time, detected (three quick runs) when not."""
    stat = os.stat(path)
    key = {"format": _FORMAT, "path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return _features(path, stat.st_size, stat.st_mtime_ns, json.dumps(key, sort_keys=True))


@lru_cache(maxsize=16)
def _features(path: str, _size: int, _mtime_ns: int, key: str) -> Features:
    file = _cache_file(path)
    try:
        remembered = json.loads(file.read_text(encoding="utf-8"))
        if isinstance(remembered, dict) and remembered.get("key") == json.loads(key):
            found = Features.from_json(remembered.get("features"))
            if found is not None:
                return found
    except (OSError, ValueError):
        pass
    found = _detect(path)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": json.loads(key), "features": found.to_json()}),
                       encoding="utf-8")
        os.replace(tmp, file)
    except OSError:
        pass  # only a cache: detected again next time
    return found


# -- the choice -----------------------------------------------------------------------------


def _shipped_binary() -> str | None:
    """The one executable ffmpeg in imageio-ffmpeg's `binaries` folder, found without
    importing the package: `get_ffmpeg_exe()` imports it and runs `ffmpeg -version`
    first (~35 ms per process). None when the folder does not hold exactly one, or
    IMAGEIO_FFMPEG_EXE chooses another (then imageio-ffmpeg decides, as before)."""
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


def _bundled() -> str | None:
    shipped = _shipped_binary()
    if shipped is not None:
        return shipped
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return None


def _refusal(path: str, found: Features, missing: list[str]) -> OperationFailed:
    return OperationFailed(f"ffmpeg {path} (version {found.version}) lacks "
                           f"{', '.join(missing)}: {FIX}")


def _describe(path: str, found: Features) -> str:
    return f"{path}, version {found.version}"


@lru_cache(maxsize=8)
def _choose(explicit: str | None, search_path: str | None) -> Choice:
    if explicit:
        path = shutil.which(explicit)
        if not path:
            raise OperationFailed(f"RENDERCLI_FFMPEG={explicit} is not an executable file")
        found = features(path)
        if found.missing():
            raise _refusal(path, found, found.missing())
        return Choice(path, "RENDERCLI_FFMPEG", "set by RENDERCLI_FFMPEG", found)
    on_path = shutil.which("ffmpeg", path=search_path)
    bundled = _bundled()
    if on_path is None:
        if bundled is None:
            raise OperationFailed("ffmpeg not found: install it, set RENDERCLI_FFMPEG, or "
                                  "pip install imageio-ffmpeg")
        found = features(bundled)
        if found.missing():
            raise _refusal(bundled, found, found.missing())
        return Choice(bundled, "imageio-ffmpeg", "no ffmpeg on PATH: the bundled one", found)
    try:
        found = features(on_path)
    except (OperationFailed, OSError) as exc:
        if bundled is None:
            raise
        reason = getattr(exc, "message", None) or str(exc)
        return Choice(bundled, "imageio-ffmpeg", f"{reason}; the bundled one",
                      features(bundled))
    short = found.missing()
    if not short:
        return Choice(on_path, "PATH", "the first ffmpeg on PATH has every feature "
                      "rendercli uses", found)
    if bundled is not None and os.path.realpath(bundled) != os.path.realpath(on_path):
        other = features(bundled)
        if not other.missing():
            return Choice(bundled, "imageio-ffmpeg",
                          f"the ffmpeg on PATH ({_describe(on_path, found)}) lacks "
                          f"{', '.join(short)}; the bundled one has it", other)
    raise _refusal(on_path, found, short)


def chosen() -> Choice:
    """The ffmpeg rendercli runs and why. Raises OperationFailed (one line naming the
    binary, its version, what it lacks and the fix) when no usable one is found."""
    return _choose(get_settings().ffmpeg, os.environ.get("PATH"))  # no App: the engine's ffmpeg


def ffmpeg_path() -> str:
    """The ffmpeg executable to run."""
    return chosen().path


def require_format(fmt: str) -> None:
    """Refuse, before anything renders, an output format the chosen ffmpeg cannot encode
    (webm needs libvpx-vp9 and libopus)."""
    if fmt != "webm":
        return
    choice = chosen()
    missing = [f"the {n} encoder" for n in WEBM_ENCODERS if n not in choice.features.encoders]
    if missing:
        raise OperationFailed(f"ffmpeg {choice.path} (version {choice.features.version}) "
                              f"lacks {', '.join(missing)} for webm: render mp4 or gif, or "
                              f"{FIX}")
