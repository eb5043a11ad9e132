"""The v1 spec as frozen dataclasses. Their field metadata is the format's one definition.

The loader (``loader.py``) and the JSON Schema (``schema.py``) both read the shapes given
here with :func:`spec_field`; docs/spec.md describes the same format for people.

Vocabulary follows the CLI of the timeline (``asset add/update``, ``title add``,
``text add``): ``transition: fade:0.5`` is ``--transition fade:0.5``, ``fade_in`` is
``--fade-in``, and so on. Seconds are numbers; text, colours, numbers, a transition's
``KIND:SECONDS``, media paths and the output and project names may hold ``{{ field }}``
placeholders filled from a data row (a number's then waits in the loaded spec as a
``shapes.Unfilled`` value until ``fill`` reads it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rendercli.errors import InvalidInput
from rendercli.render.presets import FORMATS, MAX_FPS, MAX_GIF_FPS, MIN_FPS, PRESETS, QUALITIES

# The timeline's vocabulary is defined once, by the render engine: the spec format, the
# CLI options and the engine's validation all read these.
from rendercli.render.timeline import (
    COLOR_NAMES,
    DEFAULT_STILL_SECONDS,
    DEFAULT_TITLE_SECONDS,
    DEFAULT_TRANSITION_SECONDS,
    FIT_ALIASES,
    FITS,
    MAX_FONT_FACE,
    MAX_LOUDNESS,
    MAX_TEXT_CHARS,
    MAX_TEXT_FADE_SECONDS,
    MAX_TRANSITION_SECONDS,
    MAX_VOLUME,
    MIN_LOUDNESS,
    MOTIONS,
    PLACEMENTS,
    TEXT_SIZES,
    TEXT_STYLES,
    TRANSITIONS,
    volume_as_written,
)
from rendercli.render.timeline import NUMBER_PATTERN as _NUMBER
from rendercli.render.timeline import parse_transition as parse_cli_transition
from rendercli.specfile.shapes import (
    Bool,
    Const,
    ListOf,
    Num,
    Obj,
    OneOf,
    Str,
    spec_field,
)

VERSION = 1
MAX_NAME_CHARS = 200
MAX_PATH_CHARS = 4096

TRANSITION_PATTERN = "(?:" + "|".join(TRANSITIONS) + ")(?::" + _NUMBER + ")?"
DECIBELS_PATTERN = r"[+-]?(?:" + _NUMBER + r"|inf) ?[dD][bB]"
COLOR_PATTERN = "(?:#[0-9a-fA-F]{6}|" + "|".join(COLOR_NAMES) + ")"


def parse_transition(text: str) -> Transition:
    """``KIND[:SECONDS]`` as on the command line: ``fade``, ``fade:0.5``, ``none``.

    The command line's own parser decides (and suggests a kind for a misspelt one).
    """
    kind = text.partition(":")[0]
    try:
        parsed = parse_cli_transition(text)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    return Transition(kind=kind, duration=parsed.seconds)


class Decibels(float):
    """A gain read from decibels that remembers how it was written (``-3dB``), so apply
    stores and export writes it so (rendercli.render.timeline.volume_as_written)."""

    written: str | None

    def __new__(cls, gain: float, text: str) -> Decibels:
        made = super().__new__(cls, gain)
        made.written = volume_as_written(text)
        return made


def parse_decibels(text: str) -> float:
    """``-6dB`` (``-inf dB``: silence) as a linear gain, at most ``MAX_VOLUME`` (a
    `Decibels`, remembering the text)."""
    if re.fullmatch(DECIBELS_PATTERN, text) is None:
        raise ValueError(f"invalid volume {text!r}: expected a gain from 0 to "
                         f"{MAX_VOLUME:g} or decibels like -6dB")
    number = text[:-2].strip()
    db = float(number)
    gain = 0.0 if db == -math.inf else 10 ** (db / 20)
    if not gain <= MAX_VOLUME * (1 + 1e-9):
        raise ValueError(f"volume {text} is above the maximum of "
                         f"+{20 * math.log10(MAX_VOLUME):.1f}dB (a gain of {MAX_VOLUME:g})")
    return Decibels(min(gain, MAX_VOLUME), text)


def check_file_name(text: str) -> str:
    """An output file name: one name, no folders."""
    if "/" in text or "\\" in text:
        raise ValueError(f"output name {text!r} must be a file name without folders")
    if text in (".", "..") or text.startswith("-") or text != text.strip():
        raise ValueError(f"output name {text!r} is not a usable file name")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("output name must not contain control characters")
    return text


SECONDS = Num(minimum=0)
TEXT_FADE = Num(minimum=0, maximum=MAX_TEXT_FADE_SECONDS)
FONT_FACE = Num(minimum=0, maximum=MAX_FONT_FACE, integer=True)
POSITIVE_SECONDS = Num(above=0)
# A colour may come from a data row: its pattern is checked once the row filled it in.
COLOR = Str(pattern=COLOR_PATTERN, expected="a colour: #RRGGBB or " + ", ".join(COLOR_NAMES),
            template=True)
TEXT = Str(template=True, max_length=MAX_TEXT_CHARS)
MEDIA_PATH = Str(template=True, path=True, max_length=MAX_PATH_CHARS)
FONT_PATH = Str(template=True, path=True, max_length=MAX_PATH_CHARS)
VOLUME = OneOf(
    (Num(minimum=0, maximum=MAX_VOLUME),
     Str(pattern=DECIBELS_PATTERN, expected="decibels like -6dB", convert=parse_decibels)),
    expected=f"a volume: a gain from 0 to {MAX_VOLUME:g}, or decibels like -6dB",
)
FADE_IN = spec_field(SECONDS, "Seconds of fade in: from black for picture, from silence for "
                     "sound (--fade-in).", default=0.0)
FADE_OUT = spec_field(SECONDS, "Seconds of fade out: to black for picture, to silence for "
                      "sound (--fade-out).", default=0.0)


@dataclass(frozen=True, kw_only=True)
class Transition:
    """A transition into the next picture item (--transition KIND[:SECONDS]).

    It overlaps the two items, so the timeline gets shorter by its duration.
    """

    kind: str = spec_field(Str(enum=TRANSITIONS), "The kind; none is a cut.")
    duration: float = spec_field(
        Num(minimum=0, maximum=MAX_TRANSITION_SECONDS), "Seconds the two items overlap.",
        default=DEFAULT_TRANSITION_SECONDS)

    @staticmethod
    def spec_checks(value: Transition) -> list[tuple[str, str]]:
        if value.kind != "none" and value.duration == 0:
            return [("duration", f"a {value.kind} transition needs a duration above 0 "
                                 "seconds (or kind: none)")]
        return []


TRANSITION = OneOf(
    (Str(pattern=TRANSITION_PATTERN, expected="KIND[:SECONDS], e.g. fade:0.5",
         convert=parse_transition, later=True),
     Obj(Transition)),
    expected="a transition: KIND[:SECONDS] (e.g. fade:0.5) or {kind, duration}",
)
TRANSITION_FIELD = spec_field(
    TRANSITION, "Transition into the next picture item: KIND[:SECONDS] (" +
    ", ".join(TRANSITIONS) + f"; {DEFAULT_TRANSITION_SECONDS:g} s if no length is given) "
    "or {kind, duration}. Default: a cut.", default=None)


@dataclass(frozen=True, kw_only=True)
class TextOverlay:
    """Text drawn over a picture item for a time range within it (text add).

    Written as the text alone, or as a mapping with its options.
    """

    text: str = spec_field(TEXT, "The text; any Unicode. Long lines are wrapped.")
    at: float = spec_field(SECONDS, "Seconds into the item when it appears (--at).", default=0.0)
    for_: float | None = spec_field(
        POSITIVE_SECONDS, "Seconds it stays (--for). Default: to the end of the item.",
        default=None, key="for")
    placement: str = spec_field(Str(enum=PLACEMENTS), "Where it sits (--placement).",
                                default="lower-third")
    size: str = spec_field(Str(enum=TEXT_SIZES), "Text size.", default="medium")
    color: str = spec_field(COLOR, "Text colour.", default="white")
    box: bool = spec_field(Bool(), "A translucent dark box behind the text.", default=True)
    font: str | None = spec_field(FONT_PATH, "A TTF/OTF font file, relative to the spec file. "
                                  "Default: the font shipped with rendercli.", default=None)
    face: int = spec_field(FONT_FACE, "The face of a .ttc/.otc font collection (--face).",
                           default=0)
    style: str | None = spec_field(Str(enum=TEXT_STYLES), "box, outline, shadow or none "
                                   "(--style). Default: box, or none with box: false.",
                                   default=None)
    fade_in: float = spec_field(TEXT_FADE, "Seconds the text fades in (--fade-in).",
                                default=0.0)
    fade_out: float = spec_field(TEXT_FADE, "Seconds the text fades out (--fade-out).",
                                 default=0.0)


TEXT_ENTRY = OneOf(
    (Str(template=True, max_length=MAX_TEXT_CHARS, convert=lambda s: TextOverlay(text=s)),
     Obj(TextOverlay)),
    expected="a text overlay: TEXT, or {text, at, for, placement, size, color, box, font, "
             "face, style, fade_in, fade_out}",
)
TEXTS_FIELD = spec_field(ListOf(TEXT_ENTRY), "Text overlays on this item.", default=())


def _fit_checks(duration: float | None, fade_in: float, fade_out: float,
                texts: tuple[TextOverlay, ...]) -> list[tuple[str, str]]:
    problems = []
    if duration is not None and fade_in + fade_out > duration:
        problems.append(("fade_out" if fade_out else "fade_in",
                         f"fade_in ({fade_in:g} s) and fade_out ({fade_out:g} s) together "
                         f"exceed the item's {duration:g} s"))
    if duration is not None:
        for overlay in texts:
            if overlay.at >= duration:
                problems.append(("text", f"a text starts at {overlay.at:g} s, after the "
                                         f"item's {duration:g} s"))
    return problems


FIT_VALUES = (*FITS, *FIT_ALIASES)
FIT_FIELD = spec_field(
    Str(enum=FIT_VALUES),
    "Clips and stills of another shape than the frame: contain (black bars), cover (fill "
    "and crop), blur (bars filled with a blurred copy; contain-blur is the same) (--fit). "
    "Default: the file's fit.", default=None)


@dataclass(frozen=True, kw_only=True)
class MediaItem:
    """A video clip or a still image on the timeline, by path relative to the spec file."""

    media: str = spec_field(MEDIA_PATH, "The file, relative to the spec file's folder.")
    duration: float | None = spec_field(
        POSITIVE_SECONDS, f"Stills: seconds shown (default {DEFAULT_STILL_SECONDS:g}).",
        default=None)
    trim_start: float | None = spec_field(SECONDS, "Clips: seconds cut from the start.",
                                          default=None)
    trim_end: float | None = spec_field(POSITIVE_SECONDS, "Clips: where the clip ends, in "
                                        "seconds of the source.", default=None)
    transition: Transition | None = TRANSITION_FIELD
    volume: float = spec_field(VOLUME, "Gain of the clip's sound: 0 to 4, or decibels like "
                               "-6dB (--volume).", default=1.0)
    fade_in: float = FADE_IN
    fade_out: float = FADE_OUT
    mute: bool = spec_field(Bool(), "Silence the clip's sound (--mute).", default=False)
    motion: str | None = spec_field(Str(enum=MOTIONS), "Stills: slow zoom or pan (--motion).",
                                    default=None)
    fit: str | None = FIT_FIELD
    text: tuple[TextOverlay, ...] = TEXTS_FIELD

    @staticmethod
    def spec_checks(value: MediaItem) -> list[tuple[str, str]]:
        problems = []
        if (value.trim_end is not None and value.trim_start is not None
                and value.trim_end <= value.trim_start):
            problems.append(("trim_end", f"trim_end ({value.trim_end:g}) must be after "
                                         f"trim_start ({value.trim_start:g})"))
        return problems + _fit_checks(value.duration, value.fade_in, value.fade_out, value.text)


@dataclass(frozen=True, kw_only=True)
class TitleCard:
    """A generated title card: centred text on a plain background (title add)."""

    title: str = spec_field(TEXT, "The card's text.")
    duration: float = spec_field(POSITIVE_SECONDS, "Seconds shown (--duration).",
                                 default=DEFAULT_TITLE_SECONDS)
    background: str = spec_field(COLOR, "Background colour (--background).", default="black")
    color: str = spec_field(COLOR, "Text colour (--color).", default="white")
    size: str = spec_field(Str(enum=TEXT_SIZES), "Text size (--size).", default="large")
    font: str | None = spec_field(FONT_PATH, "A TTF/OTF font file, relative to the spec file.",
                                  default=None)
    face: int = spec_field(FONT_FACE, "The face of a .ttc/.otc font collection (--face).",
                           default=0)
    style: str = spec_field(Str(enum=TEXT_STYLES), "box, outline, shadow or none (--style).",
                            default="none")
    text_fade_in: float = spec_field(TEXT_FADE, "Seconds the card's text fades in over the "
                                     "card (title --fade-in).", default=0.0)
    text_fade_out: float = spec_field(TEXT_FADE, "Seconds the card's text fades out "
                                      "(title --fade-out).", default=0.0)
    transition: Transition | None = TRANSITION_FIELD
    fade_in: float = FADE_IN
    fade_out: float = FADE_OUT
    text: tuple[TextOverlay, ...] = TEXTS_FIELD

    @staticmethod
    def spec_checks(value: TitleCard) -> list[tuple[str, str]]:
        return _fit_checks(value.duration, value.fade_in, value.fade_out, value.text)


TimelineEntry = MediaItem | TitleCard


@dataclass(frozen=True, kw_only=True)
class MusicItem:
    """An audio file under the picture, from the start; music plays one after another."""

    media: str = spec_field(MEDIA_PATH, "The audio file, relative to the spec file's folder.")
    trim_start: float | None = spec_field(SECONDS, "Seconds cut from the start.", default=None)
    trim_end: float | None = spec_field(POSITIVE_SECONDS, "Where it ends, in seconds of the "
                                        "source.", default=None)
    volume: float = spec_field(VOLUME, "Gain: 0 to 4, or decibels like -6dB (--volume).",
                               default=1.0)
    fade_in: float = FADE_IN
    fade_out: float = FADE_OUT
    mute: bool = spec_field(Bool(), "Silence it (--mute).", default=False)
    duck: bool = spec_field(Bool(), "Lower it under clip sound (--duck).", default=False)

    @staticmethod
    def spec_checks(value: MusicItem) -> list[tuple[str, str]]:
        if (value.trim_end is not None and value.trim_start is not None
                and value.trim_end <= value.trim_start):
            return [("trim_end", f"trim_end ({value.trim_end:g}) must be after "
                                 f"trim_start ({value.trim_start:g})")]
        return []


@dataclass(frozen=True, kw_only=True)
class Output:
    """Output settings, as `render submit` takes them."""

    preset: str = spec_field(Str(enum=tuple(PRESETS)), "Picture size (--preset).",
                             default="720p")
    format: str = spec_field(Str(enum=FORMATS), "Container and codecs (--format).",
                             default="mp4")
    fps: int = spec_field(Num(minimum=MIN_FPS, maximum=MAX_FPS, integer=True),
                          f"Frames per second (--fps; gif: at most {MAX_GIF_FPS}).", default=30)
    quality: str = spec_field(Str(enum=QUALITIES), "Encoder speed and quality (--quality).",
                              default="standard")
    loudness: float | None = spec_field(
        Num(minimum=MIN_LOUDNESS, maximum=MAX_LOUDNESS),
        "Normalise the mix to this integrated loudness in LUFS (--loudness). Default: off.",
        default=None)
    name: str | None = spec_field(
        Str(template=True, max_length=MAX_NAME_CHARS, check=check_file_name),
        "File name of the rendered video, without folders (batches: use a placeholder).",
        default=None)

    @staticmethod
    def spec_checks(value: Output) -> list[tuple[str, str]]:
        if value.format == "gif" and value.fps > MAX_GIF_FPS:
            return [("fps", f"gif supports at most {MAX_GIF_FPS} fps, got {value.fps}")]
        return []


DEFAULT_OUTPUT = Output()


@dataclass(frozen=True, kw_only=True)
class Spec:
    """A rendercli timeline spec: one video, described as a file."""

    version: int = spec_field(Const(VERSION), "Format version; this is version 1.")
    project: str | None = spec_field(
        Str(template=True, max_length=MAX_NAME_CHARS),
        "Name of the project this file describes (apply --project overrides it).", default=None)
    # frozen, so one shared default instance is safe
    output: Output = spec_field(Obj(Output), "Output settings.", default=DEFAULT_OUTPUT)  # noqa: RUF009
    fit: str | None = spec_field(
        Str(enum=FIT_VALUES),
        "How the timeline's clips and stills meet the frame unless an item says: contain, "
        "cover or blur (contain-blur). Default: contain.", default=None)
    timeline: tuple[TimelineEntry, ...] = spec_field(
        ListOf(OneOf((Obj(MediaItem, tag="media"), Obj(TitleCard, tag="title")),
                     expected="a timeline item: {media: PATH, ...} or {title: TEXT, ...}"),
               min_items=1),
        "Picture items in order: media (clips and stills) and title cards.")
    music: tuple[MusicItem, ...] = spec_field(
        ListOf(Obj(MusicItem)), "Music under the picture, in order.", default=())

