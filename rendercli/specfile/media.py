"""Media paths in a spec: where they may point, and probing them like ``asset add`` does.

Paths are relative to the spec file's folder. A path that leaves that folder, through
``..``, an absolute path or a symbolic link, is an error unless ``allow_outside``: a
spec from a repository must not make rendercli read (and store) files from elsewhere
on the machine. Missing files are errors.

Probing is a separate step (it reads the files): each distinct file is checked with
the same functions ``asset add`` uses (``media.validate.check_file`` for the size limit,
``media.probe.probe`` for the format allow-list and the decode test), once, however many
items or data rows use it. Then the checks that need the media: kinds in the right
place, trims within the clip, transitions that fit both neighbours.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rendercli.errors import InvalidInput
from rendercli.render.timeline import DURATION_TOLERANCE
from rendercli.specfile.model import DEFAULT_STILL_SECONDS, MediaItem, MusicItem, Spec, TitleCard
from rendercli.specfile.shapes import Str, spec_fields
from rendercli.specfile.template import has_placeholders, substitute

if TYPE_CHECKING:
    from rendercli.media.info import MediaInfo

FieldPath = tuple[str | int, ...]
Report = Callable[[FieldPath, str], None]  # (where in the spec, message)
# A path that names stored content by hash (`project export --by-hash`), not a file.
STORED_REF = re.compile(r"sha256:[0-9a-f]{64}")


def path_fields(spec: Spec) -> Iterator[tuple[FieldPath, str]]:
    """Every file path in the spec (media and fonts), with where it is."""
    yield from _walk(spec, ())


def _walk(value: object, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    for f in spec_fields(type(value)):
        item = getattr(value, f.attr)
        if isinstance(f.shape, Str) and f.shape.path and isinstance(item, str):
            yield (*path, f.key), item
        elif dataclasses.is_dataclass(item):
            yield from _walk(item, (*path, f.key))
        elif isinstance(item, tuple):
            for index, element in enumerate(item):
                if dataclasses.is_dataclass(element):
                    yield from _walk(element, (*path, f.key, index))


def resolve(base_dir: Path, text: str, *, allow_outside: bool = False) -> Path:
    """The file ``text`` names, relative to ``base_dir``, with symbolic links resolved.

    ValueError (the reason) if it leaves ``base_dir`` without ``allow_outside``, or if
    there is no such file.
    """
    base = Path(os.path.abspath(base_dir))
    candidate = Path(os.path.normpath(base / text))  # an absolute `text` replaces `base`
    if not allow_outside and not candidate.is_relative_to(base):
        how = "is an absolute path" if os.path.isabs(text) else "goes up through .."
        raise ValueError(f"{text!r} {how} outside the spec file's folder "
                         "(allow it with --allow-outside)")
    if not os.path.lexists(candidate):
        raise ValueError(f"no such file: {text!r}")
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ValueError(f"no such file: {text!r} (a broken or looping symbolic link)") from None
    if not allow_outside and not real.is_relative_to(base.resolve()):
        raise ValueError(f"{text!r} leads outside the spec file's folder through a symbolic "
                         "link (allow it with --allow-outside)")
    return real


def resolve_all(spec: Spec, base_dir: Path, report: Report, *,
                allow_outside: bool = False) -> dict[FieldPath, Path]:
    """Resolve every path without placeholders; report each that is refused."""
    resolved = {}
    for where, text in path_fields(spec):
        if has_placeholders(text):
            continue  # filled from a data row first
        if STORED_REF.fullmatch(text):
            continue  # content already stored (project export --by-hash): apply checks it
        try:
            resolved[where] = resolve(base_dir, substitute(text, {}),  # resolves {{{{ escapes
                                      allow_outside=allow_outside)
        except ValueError as exc:
            report(where, str(exc))
    return resolved


class ProbeMemory(Protocol):
    """Probe answers remembered across runs (rendercli.media.hash_memo.HashMemo)."""

    def probed(self, path: Path, probe: Callable[[Path], MediaInfo | str]) -> MediaInfo | str:
        ...


@dataclass
class Prober:
    """Probes each distinct file once; remembers the answer (MediaInfo or the reason).

    With a `memory`, a file unchanged since an earlier run (same identity, size, mtime
    and ctime, as for remembered hashes) is not probed again: an unchanged spec then
    needs no decoder at all."""

    seen: dict[Path, MediaInfo | str] = dataclasses.field(default_factory=dict)
    memory: ProbeMemory | None = None

    def __call__(self, path: Path) -> MediaInfo | str:
        if path not in self.seen:
            self.seen[path] = (_probe(path) if self.memory is None
                               else self.memory.probed(path, _probe))
        return self.seen[path]


def _probe(path: Path) -> MediaInfo | str:
    from rendercli.config import get_settings
    from rendercli.media.probe import probe
    from rendercli.media.validate import check_file

    settings = get_settings()  # no App here: spec checks probe below the services
    name = "file"  # the message is placed at the path in the spec, which names it
    try:
        check_file(path, display_name=name, max_file_size=settings.max_file_size)
        return probe(path, display_name=name, max_duration=settings.max_duration,
                     max_dimension=settings.max_dimension)
    except InvalidInput as exc:
        return exc.message.removeprefix(name + ": ")


def check_media(spec: Spec, resolved: dict[FieldPath, Path], prober: Prober,
                report: Report, waiting: Collection[FieldPath] = ()) -> None:
    """Probe every resolved media file, then check the spec against what they are.

    ``waiting``: items (``("timeline", 2)``, ``("music", 0)``) holding a number left to
    the data rows (``shapes.Unfilled``), skipped here, with a transition next to them:
    they are checked once a row has filled them in (``check`` does, per row)."""
    infos: dict[FieldPath, MediaInfo] = {}
    for where, path in resolved.items():
        if where[-1] == "font":
            continue  # fonts are checked by the engine (TTF/OTF by content)
        info = prober(path)
        if isinstance(info, str):
            report(where, f"{spec_text(spec, where)!r}: {info}")
        else:
            infos[where] = info
    lengths: list[float | None] = []
    for index, entry in enumerate(spec.timeline):
        at = ("timeline", index)
        if at in waiting:
            lengths.append(None)
            continue
        if isinstance(entry, TitleCard):
            lengths.append(entry.duration)
            continue
        info = infos.get((*at, "media"))
        lengths.append(None if info is None else _picture_item(entry, info, at, report))
    for index, music in enumerate(spec.music):
        info = infos.get(("music", index, "media"))
        if info is not None and ("music", index) not in waiting:
            _music_item(music, info, ("music", index), report)
    _transitions_fit(spec, lengths, report, waiting)


def spec_text(spec: Spec, where: FieldPath) -> str:
    value: object = spec
    for step in where:
        if isinstance(step, int):
            value = value[step]  # type: ignore[index]
        else:
            attr = next(f.attr for f in spec_fields(type(value)) if f.key == step)
            value = getattr(value, attr)
    return str(value)


def _picture_item(item: MediaItem, info: MediaInfo, at: FieldPath, report: Report) -> float | None:
    if info.kind == "audio":
        report((*at, "media"), f"{item.media!r} is audio: put it under music:, the timeline "
                               "holds clips, stills and titles")
        return None
    if info.kind == "image":
        for key, value in (("trim_start", item.trim_start), ("trim_end", item.trim_end)):
            if value is not None:
                report((*at, key), f"{key} applies to clips; {item.media!r} is a still image "
                                   "(use duration)")
        length = item.duration or DEFAULT_STILL_SECONDS
    else:
        if item.duration is not None:
            report((*at, "duration"), f"duration applies to stills; {item.media!r} is a clip "
                                      "(use trim_start and trim_end)")
        if item.motion is not None:
            report((*at, "motion"), f"motion applies to still images; {item.media!r} is a clip")
        length = _trimmed(item.trim_start, item.trim_end, info, item.media, at, report)
        if length is None:
            return None
        if info.frame_rate and length < 1 / info.frame_rate - DURATION_TOLERANCE:
            report((*at, "trim_end"), f"the trimmed part of {item.media!r} is {length:.3f} s, "
                                      f"shorter than one frame at {info.frame_rate:g} fps")
    if item.fade_in + item.fade_out > length + DURATION_TOLERANCE:
        report((*at, "fade_in"), f"fade_in and fade_out together ({item.fade_in + item.fade_out:g}"
                                 f" s) exceed the item's {length:g} s")
    for k, overlay in enumerate(item.text):
        if overlay.at >= length:
            report((*at, "text", k), f"this text starts at {overlay.at:g} s, after the "
                                     f"item's {length:g} s")
    return length


def _trimmed(start: float | None, end: float | None, info: MediaInfo, name: str,
             at: FieldPath, report: Report) -> float | None:
    total = info.duration or 0.0
    if start is not None and start >= total - DURATION_TOLERANCE:
        report((*at, "trim_start"), f"trim_start {start:g} is not before the end of {name!r} "
                                    f"({total:g} s)")
        return None
    if end is not None and end > total + DURATION_TOLERANCE:
        report((*at, "trim_end"), f"trim_end {end:g} is past the end of {name!r} ({total:g} s)")
        return None
    return min(end if end is not None else total, total) - (start or 0.0)


def _music_item(item: MusicItem, info: MediaInfo, at: FieldPath, report: Report) -> None:
    if info.kind != "audio":
        what = "a still image" if info.kind == "image" else "a video clip"
        report((*at, "media"), f"{item.media!r} is {what}: music must be an audio file")
        return
    length = _trimmed(item.trim_start, item.trim_end, info, item.media, at, report)
    if length is not None and item.fade_in + item.fade_out > length + DURATION_TOLERANCE:
        report((*at, "fade_in"), f"fade_in and fade_out together exceed {item.media!r}'s "
                                 f"{length:g} s")


def _transitions_fit(spec: Spec, lengths: list[float | None], report: Report,
                     waiting: Collection[FieldPath]) -> None:
    for index, entry in enumerate(spec.timeline[:-1]):
        transition = entry.transition
        if ("timeline", index) in waiting or transition is None or transition.kind == "none":
            continue
        for neighbour in (index, index + 1):
            length = lengths[neighbour]
            if length is not None and transition.duration > length + DURATION_TOLERANCE:
                report(("timeline", index, "transition"),
                       f"the {transition.kind} transition ({transition.duration:g} s) is longer "
                       f"than timeline item {neighbour + 1} ({length:g} s)")
                break
