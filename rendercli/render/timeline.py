"""What the engine renders: timeline items, settings, validation and the frame plan.

Frame arithmetic is defined once, here: an item of ``duration`` seconds occupies
``frames_for(duration, fps) = floor(duration * fps + 0.5)`` frames (at least one), the
timeline is the sum of those, and every time boundary (segment cuts, audio placement,
the output duration) is a whole number of frames. Audio boundaries are the sample
nearest each frame boundary, so clip sound and picture stay locked item by item.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rendercli.errors import InvalidInput, did_you_mean
from rendercli.media.colour import Conversion
from rendercli.render.presets import (
    AUDIO_RATE,
    FORMATS,
    MAX_FPS,
    MAX_GIF_FPS,
    MIN_FPS,
    PRESETS,
    QUALITIES,
)

ItemKind = Literal["video", "image", "audio", "title"]
PICTURE_KINDS = ("video", "image", "title")

# "crossfade" and "fade" are the same cross-dissolve (xfade's fade: a uniform blend);
# "dissolve" is xfade's noise dissolve (each pixel switches over at a random moment).
TRANSITIONS = ("none", "crossfade", "fade", "fadeblack", "wipeleft", "wiperight", "slideleft",
               "slideright", "circleopen", "dissolve")
XFADE_KINDS = {"crossfade": "fade"}  # our kind -> xfade's, where the names differ
MOTIONS = ("zoom-in", "zoom-out", "pan-left", "pan-right")
# How a clip or still meets a frame of another shape: "contain" shows all of it (black
# bars), "cover" fills the frame and crops, "blur" fills the bars with a blurred copy.
FITS = ("contain", "cover", "blur")
FIT_ALIASES = {"contain-blur": "blur"}  # editly's name
DEFAULT_FIT = "contain"
PLACEMENTS = ("lower-third", "center", "top")
TEXT_SIZES = ("small", "medium", "large")
TEXT_STYLES = ("box", "outline", "shadow", "none")
MAX_TEXT_FADE_SECONDS = 10.0
MAX_FONT_FACE = 63
MAX_VOLUME = 4.0  # linear gain, about +12 dB
MAX_TEXT_CHARS = 2000
MIN_LOUDNESS, MAX_LOUDNESS = -70.0, -5.0  # LUFS targets (EBU R128)
BED_FADE_OUT = 2.0  # seconds a music bed cut by the end of the timeline fades out over
DEFAULT_TRANSITION_SECONDS = 1.0  # a transition given as a bare kind (`fade`)
MAX_TRANSITION_SECONDS = 60.0
DEFAULT_STILL_SECONDS = 3.0  # how long a still image is shown unless told
DEFAULT_TITLE_SECONDS = 3.0  # how long a title card is shown unless told
DURATION_TOLERANCE = 0.001  # seconds; probed durations are rounded by containers
# Hard ceilings whatever the caller or the settings (a row read from the database may hold
# anything): no time value and no timeline is longer than a week (the highest
# RENDERCLI_MAX_DURATION; the services check the configured, lower one), a timeline has
# at most MAX_ITEMS items and each at most MAX_TEXTS_PER_ITEM texts, and a render is cut
# into at most MAX_SEGMENTS pieces (longer chunks beyond that). So a plan never holds
# more than MAX_SEGMENTS entries, however long a row says an item is.
MAX_SECONDS = 7 * 86400.0
MAX_ITEMS = 1000
MAX_TEXTS_PER_ITEM = 100
MAX_SEGMENTS = 10_000
NUMBER_PATTERN = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"  # plain decimal seconds, no sign


@dataclass(frozen=True)
class Transition:
    """How a picture item hands over to the next picture item.

    ``kind`` "none" (or 0 seconds) is a cut. Any other kind overlaps the two items by
    ``seconds`` (rounded to whole frames): the timeline gets shorter by that much, and
    clip sound crossfades over the same frames.
    """

    kind: str = "none"
    seconds: float = 0.0


NO_TRANSITION = Transition()


def parse_transition(text: str) -> Transition:
    """``KIND[:SECONDS]`` from a user: ``fade`` (DEFAULT_TRANSITION_SECONDS long),
    ``fade:0.5``, ``none`` (a cut). Raises InvalidInput with the reason."""
    kind, colon, seconds = text.partition(":")
    if kind not in TRANSITIONS:
        raise InvalidInput(f"unknown transition {kind!r}{did_you_mean(kind, TRANSITIONS)}: "
                           f"expected KIND or KIND:SECONDS with a KIND from "
                           f"{', '.join(TRANSITIONS)}")
    if not colon:
        return NO_TRANSITION if kind == "none" else Transition(kind, DEFAULT_TRANSITION_SECONDS)
    if re.fullmatch(NUMBER_PATTERN, seconds) is None:
        raise InvalidInput(f"invalid transition {text!r}: expected KIND:SECONDS, e.g. fade:0.5")
    value = float(seconds)
    if value > MAX_TRANSITION_SECONDS:
        raise InvalidInput(f"transition {text!r} is longer than {MAX_TRANSITION_SECONDS:g} s")
    if kind == "none":
        return NO_TRANSITION
    if value == 0:
        raise InvalidInput(f"transition {text!r} needs a length above 0 seconds (or use none)")
    return Transition(kind, value)


@dataclass(frozen=True)
class TextOverlay:
    """Text drawn over a picture item for a time range within it (item-local seconds).

    ``text`` is data: any Unicode, written (escaped) to an .ass file that libass reads,
    never put into the filter graph. Lines too long for the frame are wrapped. ``font``
    is a TTF/OTF file or a TTC/OTC collection (``font_face`` picks the face; None: the
    font shipped with rendercli) and ``font_sha256`` its content hash.
    """

    text: str
    start: float = 0.0
    duration: float | None = None  # None: to the end of the item
    placement: str = "lower-third"  # lower-third | center | top
    size: str = "medium"  # small | medium | large
    color: str = "white"  # a colour name or #RRGGBB
    box: bool = True  # a translucent dark box behind the text, for legibility
    font: Path | None = None
    font_sha256: str = ""
    font_name: str = ""  # the font asset's name, for messages
    font_face: int = 0  # the face of a .ttc/.otc collection
    fade_in: float = 0.0  # seconds the text takes to appear (0: at once)
    fade_out: float = 0.0
    style: str = ""  # box | outline | shadow | none; "" follows ``box``

    @property
    def effective_style(self) -> str:
        return self.style or ("box" if self.box else "none")


@dataclass(frozen=True)
class TitleCard:
    """A generated card (kind "title"): centred text on a plain background."""

    text: str
    background: str = "black"
    color: str = "white"
    size: str = "large"  # small | medium | large
    font: Path | None = None
    font_sha256: str = ""
    font_name: str = ""  # the font asset's name, for messages
    font_face: int = 0
    fade_in: float = 0.0  # the text fades in over the card (the card itself: item fades)
    fade_out: float = 0.0
    style: str = "none"  # box | outline | shadow | none

    @property
    def effective_style(self) -> str:
        return self.style or "none"


@dataclass(frozen=True)
class TimelineItem:
    """One entry of a timeline, as loaded from the database (paths are read-only).

    Picture items are "video", "image" and "title" (no media file: ``title`` says what
    to draw; use ``title_item``). "audio" items are the music bed, mixed under the clips.
    """

    path: Path  # the stored media file (content-addressed; read-only); unused for titles
    sha256: str  # content hash of the source ("" for titles)
    kind: ItemKind
    duration: float  # seconds on the timeline: trimmed length, or display time for images
    trim_start: float  # seconds into the source (video/audio); 0 for images
    has_audio: bool
    width: int | None  # as displayed (rotation applied)
    height: int | None
    rotation: int  # 0/90/180/270, from probing
    # Picture items: the hand-over to the next picture item (ignored on the last one).
    transition: Transition = NO_TRANSITION
    # Seconds of fade from/to black (picture items) and of sound fade (clips and music).
    fade_in: float = 0.0
    fade_out: float = 0.0
    volume: float = 1.0  # linear gain of the item's sound, 0..MAX_VOLUME
    mute: bool = False
    motion: str | None = None  # stills only: zoom-in | zoom-out | pan-left | pan-right
    texts: tuple[TextOverlay, ...] = ()  # picture items
    title: TitleCard | None = None  # kind "title" only
    duck: bool = False  # music only: lowered under clip sound (sidechain compression)
    name: str = ""  # how messages name the item (default: the file name, or "title")
    # Video and image items: how their pictures are read (range and matrix), from the
    # file's own tags; None until the engine reads them (render.colour.with_colours).
    colour: Conversion | None = None
    fit: str = DEFAULT_FIT  # clips and stills: contain | cover | blur (see FITS)


def parse_fit(text: str) -> str:
    """A fit from a user (``contain``, ``cover``, ``blur`` or ``contain-blur``), as one of
    FITS. Raises InvalidInput."""
    fit = FIT_ALIASES.get(text, text)
    if fit not in FITS:
        raise InvalidInput(f"unknown fit {text!r}; choose one of {', '.join(FITS)} "
                           f"(contain-blur is blur)")
    return fit


def effective_fit(item: TimelineItem) -> str:
    """How the item's picture meets the frame: its fit, except that a moving still
    always covers the frame (a zoom or pan never shows bars)."""
    if item.kind == "image" and item.motion:
        return "cover"
    return item.fit if item.kind in ("video", "image") else DEFAULT_FIT


def title_item(card: TitleCard, duration: float, **options: object) -> TimelineItem:
    """A title-card item (no media file)."""
    return TimelineItem(path=Path(), sha256="", kind="title", duration=duration,
                        trim_start=0.0, has_audio=False, width=None, height=None,
                        rotation=0, title=card, **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RenderSettings:
    """Output settings of a render."""

    preset: str = "720p"  # 2160p 1080p 720p 480p square vertical
    fmt: str = "mp4"  # mp4 | webm | gif
    fps: int = 30
    quality: str = "standard"  # draft | standard | high
    use_cache: bool = True
    loudness: float | None = None  # integrated loudness target in LUFS (EBU R128); None: off

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the output picture."""
        return PRESETS[self.preset]


def validate_settings(settings: RenderSettings) -> None:
    """Raise InvalidInput unless the settings name a known preset, format and quality."""
    if settings.preset not in PRESETS:
        raise InvalidInput(
            f"unknown preset {settings.preset!r}; choose one of {', '.join(PRESETS)}"
        )
    if settings.fmt not in FORMATS:
        raise InvalidInput(f"unknown format {settings.fmt!r}; choose one of {', '.join(FORMATS)}")
    if settings.quality not in QUALITIES:
        raise InvalidInput(
            f"unknown quality {settings.quality!r}; choose one of {', '.join(QUALITIES)}"
        )
    if isinstance(settings.fps, bool) or not isinstance(settings.fps, int) or not (
        MIN_FPS <= settings.fps <= MAX_FPS
    ):
        raise InvalidInput(f"fps must be a whole number from {MIN_FPS} to {MAX_FPS}, "
                           f"got {settings.fps!r}")
    if settings.fmt == "gif" and settings.fps > MAX_GIF_FPS:
        # GIF frame delays are whole 1/100 s and players slow delays under 2/100 s to 1/10 s
        raise InvalidInput(f"gif supports at most {MAX_GIF_FPS} fps, got {settings.fps}")
    if settings.loudness is not None and not (
            _finite(settings.loudness) and MIN_LOUDNESS <= settings.loudness <= MAX_LOUDNESS):
        raise InvalidInput(f"loudness target must be from {MIN_LOUDNESS:g} to "
                           f"{MAX_LOUDNESS:g} LUFS, got {settings.loudness!r}"
                           f"{loudness_hint(settings.loudness)}")


def loudness_hint(value: object) -> str:
    """`` (did you mean -14?)`` for a positive target whose negative is one: LUFS below
    full scale are negative, and the minus sign is easy to leave out."""
    if _finite(value) and MIN_LOUDNESS <= -value <= MAX_LOUDNESS:  # type: ignore[operator]
        return f" (did you mean {-value:g}?)"  # type: ignore[operator]
    return ""


def _finite(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_seconds(where: str, what: str, value: object, *, positive: bool = False,
                   limit: float = MAX_SECONDS) -> float:
    if not _finite(value) or value < 0 or (positive and value <= 0):  # type: ignore[operator]
        need = "a positive number" if positive else "zero or more"
        raise InvalidInput(f"{where}: {what} must be {need} seconds, got {value!r}")
    if value > limit:  # type: ignore[operator]
        raise InvalidInput(f"{where}: {what} is {value:g} s, over the limit of {limit:g} s")
    return float(value)  # type: ignore[arg-type]


def check_lengths(items: Sequence[TimelineItem], max_seconds: float,
                  limit_name: str = "") -> None:
    """Raise InvalidInput unless every time value of every item (its length, trim start,
    fades, texts' start and length) and the picture timeline as a whole are at most
    ``max_seconds`` (``limit_name``: the setting that says so, for the message)."""
    named = f" ({limit_name})" if limit_name else ""
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"the timeline has {len(items)} items; at most {MAX_ITEMS} are "
                           "allowed")
    for n, item in enumerate(items, 1):
        where = f"timeline item {n} ({_name(item)})"
        try:
            _check_seconds(where, "duration", item.duration, positive=True, limit=max_seconds)
            _check_seconds(where, "trim start", item.trim_start, limit=max_seconds)
            _check_seconds(where, "fade-in", item.fade_in, limit=max_seconds)
            _check_seconds(where, "fade-out", item.fade_out, limit=max_seconds)
            if len(item.texts) > MAX_TEXTS_PER_ITEM:
                raise InvalidInput(f"{where}: {len(item.texts)} texts; at most "
                                   f"{MAX_TEXTS_PER_ITEM} per item are allowed")
            for k, overlay in enumerate(item.texts, 1):
                _check_seconds(f"{where}, text {k}", "start", overlay.start, limit=max_seconds)
                if overlay.duration is not None:
                    _check_seconds(f"{where}, text {k}", "duration", overlay.duration,
                                   positive=True, limit=max_seconds)
        except InvalidInput as exc:
            raise InvalidInput(exc.message + named) from None
    total = sum(item.duration for item in items if item.kind in PICTURE_KINDS)
    if total > max_seconds:
        raise InvalidInput(f"the timeline's items last {total:g} s together, over the limit "
                           f"of {max_seconds:g} s{named}")


def parse_volume(text: str) -> float:
    """A volume from a user: a linear gain ``0``..``4`` or decibels with a ``dB`` suffix
    (``-6dB``, ``+3 dB``, ``-inf dB`` for silence). Returns the linear gain."""
    raw = text.strip()
    if raw.lower().endswith("db"):
        number = raw[:-2].strip()
        try:
            db = float(number)
        except ValueError:
            raise InvalidInput(f"invalid volume {text!r}: expected e.g. -6dB or 0.5") from None
        if math.isnan(db) or db == math.inf:
            raise InvalidInput(f"invalid volume {text!r}")
        gain = 0.0 if db == -math.inf else 10 ** (db / 20)
    else:
        try:
            gain = float(raw)
        except ValueError:
            raise InvalidInput(f"invalid volume {text!r}: expected e.g. 0.5 or -6dB") from None
    if not (math.isfinite(gain) and 0 <= gain <= MAX_VOLUME + 1e-9):
        raise InvalidInput(f"volume must be from 0 to {MAX_VOLUME:g} "
                           f"(+{20 * math.log10(MAX_VOLUME):.1f} dB), got {text!r}")
    return min(gain, MAX_VOLUME)


MAX_VOLUME_TEXT = 16  # characters of a volume kept as written (assets.volume_text)
_DECIBELS_WRITTEN = re.compile(r"([+-]?(?:" + NUMBER_PATTERN + r"|inf)) ?[dD][bB]")


def volume_as_written(text: str) -> str | None:
    """The volume as the person wrote it, to show and export, when it is decibels
    (``-3dB``, ``+2 dB`` -> ``+2dB``); None for a plain gain (shown as its number) or a
    form the spec format would not read back (``1e1dB``)."""
    found = _DECIBELS_WRITTEN.fullmatch(text.strip())
    if found is None:
        return None
    written = found.group(1) + "dB"
    return written if len(written) <= MAX_VOLUME_TEXT else None


_NAMED_COLORS = {
    "black": "000000", "white": "ffffff", "red": "ff0000", "green": "008000",
    "blue": "0000ff", "yellow": "ffff00", "cyan": "00ffff", "magenta": "ff00ff",
    "gray": "808080", "grey": "808080", "orange": "ffa500", "purple": "800080",
    "pink": "ffc0cb", "navy": "000080", "teal": "008080", "maroon": "800000",
    "olive": "808000", "silver": "c0c0c0", "lime": "00ff00", "brown": "a52a2a",
    "gold": "ffd700",
}
COLOR_NAMES = tuple(_NAMED_COLORS)
_HEX = re.compile(r"(?:#|0x)?([0-9a-fA-F]{6})")


def parse_color(text: str) -> str:
    """A colour name (black, white, red, ... gold) or ``#RRGGBB`` as ``0xRRGGBB``."""
    name = text.strip().lower()
    if name in _NAMED_COLORS:
        return "0x" + _NAMED_COLORS[name]
    match = _HEX.fullmatch(name)
    if match is None:
        raise InvalidInput(f"invalid colour {text!r}: use #RRGGBB or one of "
                           f"{', '.join(sorted(_NAMED_COLORS))}")
    return "0x" + match.group(1).lower()


def _check_text(where: str, text: object) -> None:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{where}: text must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"{where}: text is {len(text)} characters; at most "
                           f"{MAX_TEXT_CHARS} are allowed")
    if "\x00" in text:
        raise InvalidInput(f"{where}: text must not contain NUL characters")


def _check_choice(where: str, what: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise InvalidInput(f"{where}: unknown {what} {value!r}; choose one of "
                           f"{', '.join(choices)}")


def _check_font(where: str, font: Path | None, sha: str, face: object = 0) -> None:
    if font is not None and not sha:
        raise InvalidInput(f"{where}: a font file needs its content hash")
    if not isinstance(face, int) or isinstance(face, bool) or not 0 <= face <= MAX_FONT_FACE:
        raise InvalidInput(f"{where}: font face must be a whole number from 0 to "
                           f"{MAX_FONT_FACE}, got {face!r}")


def check_text_fades(where: str, fade_in: object, fade_out: object,
                     shown: float | None) -> None:
    """Text fades are 0..MAX_TEXT_FADE_SECONDS each and fit, together, in the time the
    text is shown (``shown``; None: not known here)."""
    total = 0.0
    for what, value in (("fade-in", fade_in), ("fade-out", fade_out)):
        seconds = _check_seconds(where, f"text {what}", value)
        if seconds > MAX_TEXT_FADE_SECONDS:
            raise InvalidInput(f"{where}: text {what} is {seconds:g} s; at most "
                               f"{MAX_TEXT_FADE_SECONDS:g} s")
        total += seconds
    if shown is not None and total > shown + 1e-9:
        raise InvalidInput(f"{where}: text fade-in and fade-out ({total:g} s together) "
                           f"exceed the {shown:g} s the text is shown")


def _check_style(where: str, style: object, *, allow_default: bool) -> None:
    if allow_default and style == "":
        return
    _check_choice(where, "text style", style, TEXT_STYLES)


def _name(item: TimelineItem) -> str:
    return item.name or ("title" if item.kind == "title" else Path(item.path).name)


def _validate_item(n: int, item: TimelineItem) -> None:
    where = f"timeline item {n} ({_name(item)})"
    if item.kind not in ("video", "image", "audio", "title"):
        raise InvalidInput(f"{where}: unknown kind {item.kind!r}")
    if not (_finite(item.duration) and item.duration > 0):
        raise InvalidInput(f"{where}: duration must be a positive number of seconds")
    if not (_finite(item.trim_start) and item.trim_start >= 0):
        raise InvalidInput(f"{where}: trim start must be zero or more seconds")
    _check_seconds(where, "duration", item.duration)
    _check_seconds(where, "trim start", item.trim_start)
    if item.rotation not in (0, 90, 180, 270):
        raise InvalidInput(f"{where}: rotation must be 0, 90, 180 or 270")
    if item.kind != "title" and not item.sha256:
        raise InvalidInput(f"{where}: missing content hash")
    if item.colour is not None and not (
            isinstance(item.colour, Conversion) and item.kind in ("video", "image")
            and item.colour.range in ("tv", "pc")
            and item.colour.matrix in ("bt709", "bt601", "bt2020", "fcc", "smpte240m")):
        raise InvalidInput(f"{where}: invalid colour conversion {item.colour!r}")
    fade_in = _check_seconds(where, "fade-in", item.fade_in)
    fade_out = _check_seconds(where, "fade-out", item.fade_out)
    if fade_in + fade_out > item.duration + 1e-9:
        raise InvalidInput(f"{where}: fade-in ({fade_in:g} s) and fade-out ({fade_out:g} s) "
                           f"together exceed the item's {item.duration:g} s")
    if not (_finite(item.volume) and 0 <= item.volume <= MAX_VOLUME):
        raise InvalidInput(f"{where}: volume must be from 0 to {MAX_VOLUME:g}, "
                           f"got {item.volume!r}")
    if not isinstance(item.mute, bool) or not isinstance(item.duck, bool):
        raise InvalidInput(f"{where}: mute and duck are true or false")
    if item.duck and item.kind != "audio":
        raise InvalidInput(f"{where}: only music (audio items) can be ducked")
    transition = item.transition
    if not isinstance(transition, Transition):
        raise InvalidInput(f"{where}: invalid transition {transition!r}")
    _check_choice(where, "transition", transition.kind, TRANSITIONS)
    _check_seconds(where, "transition length", transition.seconds,
                   limit=MAX_TRANSITION_SECONDS)
    if transition.kind != "none" and transition.seconds <= 0:
        raise InvalidInput(f"{where}: a {transition.kind} transition needs a length in seconds")
    if item.kind == "audio" and transition != NO_TRANSITION:
        raise InvalidInput(f"{where}: transitions join picture items; this is music")
    _check_choice(where, "fit", item.fit, FITS)
    if item.fit != DEFAULT_FIT and item.kind not in ("video", "image"):
        raise InvalidInput(f"{where}: fit applies to clips and stills")
    if item.motion is not None:
        _check_choice(where, "motion", item.motion, MOTIONS)
        if item.kind != "image":
            raise InvalidInput(f"{where}: motion applies to still images only")
    if item.texts and item.kind == "audio":
        raise InvalidInput(f"{where}: text is drawn over picture items, not music")
    if len(item.texts) > MAX_TEXTS_PER_ITEM:
        raise InvalidInput(f"{where}: {len(item.texts)} texts; at most "
                           f"{MAX_TEXTS_PER_ITEM} per item are allowed")
    for k, overlay in enumerate(item.texts, 1):
        at = f"{where}, text {k}"
        if not isinstance(overlay, TextOverlay):
            raise InvalidInput(f"{at}: invalid text overlay")
        _check_text(at, overlay.text)
        start = _check_seconds(at, "start", overlay.start)
        if start >= item.duration:
            raise InvalidInput(f"{at}: starts at {start:g} s, after the item's "
                               f"{item.duration:g} s")
        if overlay.duration is not None:
            _check_seconds(at, "duration", overlay.duration, positive=True)
        _check_choice(at, "placement", overlay.placement, PLACEMENTS)
        _check_choice(at, "text size", overlay.size, TEXT_SIZES)
        parse_color(overlay.color)
        _check_font(at, overlay.font, overlay.font_sha256, overlay.font_face)
        _check_style(at, overlay.style, allow_default=True)
        shown = (overlay.duration if overlay.duration is not None
                 else item.duration - start)
        check_text_fades(at, overlay.fade_in, overlay.fade_out,
                         min(shown, item.duration - start))
    if item.kind == "title":
        card = item.title
        if not isinstance(card, TitleCard):
            raise InvalidInput(f"{where}: a title item needs its card (text, colours)")
        _check_text(where, card.text)
        parse_color(card.background)
        parse_color(card.color)
        _check_choice(where, "title size", card.size, TEXT_SIZES)
        _check_font(where, card.font, card.font_sha256, card.font_face)
        _check_style(where, card.style, allow_default=True)
        check_text_fades(where, card.fade_in, card.fade_out, item.duration)
    elif item.title is not None:
        raise InvalidInput(f"{where}: only title items carry a title card")


def validate_timeline(items: Sequence[TimelineItem], fps: int | None = None, *,
                      require_picture: bool = True) -> None:
    """Raise InvalidInput unless the timeline has a picture and every item is well formed.

    With ``fps``, also check the frame plan: each transition fits both of its neighbours.
    Without it, the same check is made in seconds. ``require_picture=False`` accepts a
    timeline that has no picture item yet (while it is being put together).
    """
    if require_picture and not any(item.kind in PICTURE_KINDS for item in items):
        raise InvalidInput("the timeline has no video or image items and no titles: "
                           "nothing to render")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"the timeline has {len(items)} items; at most {MAX_ITEMS} are "
                           "allowed")
    for n, item in enumerate(items, 1):
        _validate_item(n, item)
    total = sum(item.duration for item in items if item.kind in PICTURE_KINDS)
    if total > MAX_SECONDS:
        raise InvalidInput(f"the timeline's items last {total:g} s together, over the limit "
                           f"of {MAX_SECONDS:g} s")
    if fps is not None:
        plan_timeline(items, fps)
        return
    pictures = [(n, i) for n, i in enumerate(items, 1) if i.kind in PICTURE_KINDS]
    incoming = 0.0
    for (n, a), (_m, b) in itertools.pairwise(pictures):
        seconds = _transition_seconds(a)
        if seconds > a.duration + 1e-9 or seconds > b.duration + 1e-9:
            raise InvalidInput(f"timeline item {n} ({_name(a)}): the {a.transition.kind} "
                               f"transition ({seconds:g} s) is longer than an item it joins")
        if incoming + seconds > a.duration + 1e-9:
            raise InvalidInput(f"timeline item {n} ({_name(a)}): its transitions ({incoming:g} "
                               f"+ {seconds:g} s) overlap each other; the item is only "
                               f"{a.duration:g} s long")
        incoming = seconds


def _transition_seconds(item: TimelineItem) -> float:
    return item.transition.seconds if item.transition.kind != "none" else 0.0


def frames_for(duration: float, fps: int) -> int:
    """Frames an item of ``duration`` seconds occupies: nearest whole frame, at least one."""
    return max(1, math.floor(duration * fps + 0.5))


@dataclass(frozen=True)
class PlannedItem:
    """A picture item placed on the frame grid.

    Its first ``head`` frames are shown inside the incoming transition and its last
    ``tail`` frames inside the outgoing one; the frames between are its own segment.
    """

    index: int  # position among the picture items
    item: TimelineItem
    frames: int
    start_frame: int  # where the item's first frame lands in the output
    head: int = 0
    tail: int = 0

    @property
    def body(self) -> int:
        """Frames shown outside any transition."""
        return self.frames - self.head - self.tail


@dataclass(frozen=True)
class PlannedTransition:
    """The overlap of two picture items: ``frames`` frames, ``before`` fading into ``after``."""

    index: int  # the ``before`` item's index
    kind: str
    frames: int
    before: PlannedItem
    after: PlannedItem
    start_frame: int


@dataclass(frozen=True)
class Segment:
    """One cached piece of the picture: an item's body (or one chunk of a long body), or
    a transition."""

    start_frame: int
    frames: int
    item: PlannedItem | None = None
    transition: PlannedTransition | None = None
    # A chunk of an item's body: its item-local first frame and its number (1-based).
    offset: int | None = None
    chunk: int = 0

    @property
    def item_first(self) -> int:
        """Item-local number of this body segment's first frame."""
        assert self.item is not None
        return self.item.head if self.offset is None else self.offset

    @property
    def label(self) -> str:
        if self.transition is not None:
            return f"transition {self.transition.index + 1}-{self.transition.index + 2}"
        assert self.item is not None
        suffix = f".{self.chunk}" if self.chunk else ""
        return f"segment {self.item.index + 1}{suffix}"


@dataclass(frozen=True)
class TimelinePlan:
    """Picture items and transitions on the frame grid, plus the music bed items."""

    visual: tuple[PlannedItem, ...]
    background: tuple[TimelineItem, ...]
    fps: int
    total_frames: int
    transitions: tuple[PlannedTransition, ...] = ()
    segments: tuple[Segment, ...] = ()

    @property
    def duration(self) -> float:
        """Output duration in seconds: a whole number of frames."""
        return self.total_frames / self.fps

    def sample_at(self, frame: int) -> int:
        """The audio sample (at AUDIO_RATE) nearest a frame boundary."""
        return math.floor(frame * AUDIO_RATE / self.fps + 0.5)

    @property
    def total_samples(self) -> int:
        return self.sample_at(self.total_frames)


def chunk_bounds(frames: int, chunk_frames: int | None) -> list[tuple[int, int]]:
    """Split ``frames`` into (first, count) chunks of at most ``chunk_frames`` frames,
    as even as whole frames allow; one chunk when ``chunk_frames`` is None or larger."""
    if chunk_frames is None or chunk_frames <= 0 or frames <= chunk_frames:
        return [(0, frames)]
    n = -(-frames // chunk_frames)
    cuts = [k * frames // n for k in range(n + 1)]
    return [(a, b - a) for a, b in itertools.pairwise(cuts)]


def plan_timeline(items: Sequence[TimelineItem], fps: int, *,
                  chunk_frames: int | None = None) -> TimelinePlan:
    """Place picture items on the frame grid, overlapping neighbours joined by a
    transition; audio items become the music bed.

    total frames = sum of item frames - sum of transition frames. Raises InvalidInput
    when a transition does not fit both items it joins. With ``chunk_frames``, an item
    body longer than that is cut at exact frame boundaries into chunks of at most that
    many frames, each its own segment (encoded on its own, joined by stream copy).
    """
    pictures = [(n, i) for n, i in enumerate(items, 1) if i.kind in PICTURE_KINDS]
    frames = [frames_for(i.duration, fps) for _n, i in pictures]
    overlaps = []
    for k, (n, item) in enumerate(pictures[:-1]):
        seconds = _transition_seconds(item)
        t = frames_for(seconds, fps) if seconds > 0 else 0
        for other in (k, k + 1):
            if t > frames[other]:
                raise InvalidInput(
                    f"timeline item {n} ({_name(item)}): the {item.transition.kind} "
                    f"transition ({t} frames) "
                    f"is longer than the item it joins ({frames[other]} frames)")
        overlaps.append(t)
    overlaps.append(0)
    visual: list[PlannedItem] = []
    start = 0
    for k, ((n, item), count) in enumerate(zip(pictures, frames, strict=True)):
        head = overlaps[k - 1] if k else 0
        tail = overlaps[k]
        if head + tail > count:
            raise InvalidInput(
                f"timeline item {n} ({_name(item)}): its transitions ({head} + {tail} "
                f"frames) overlap each "
                f"other; the item has only {count} frames")
        visual.append(PlannedItem(k, item, count, start, head, tail))
        start += count - tail
    transitions: list[PlannedTransition] = []
    segments: list[Segment] = []
    if chunk_frames is not None and chunk_frames > 0:
        # However long the timeline, at most about MAX_SEGMENTS chunks (plus one per item
        # and transition): the plan's size is bounded, not the chunk length.
        chunk_frames = max(chunk_frames, -(-start // MAX_SEGMENTS))
    for k, planned in enumerate(visual):
        if planned.body > 0:
            body_start = planned.start_frame + planned.head
            chunks = chunk_bounds(planned.body, chunk_frames)
            for n, (first, count) in enumerate(chunks, 1):
                if len(chunks) == 1:
                    segments.append(Segment(body_start, count, item=planned))
                else:
                    segments.append(Segment(body_start + first, count, item=planned,
                                            offset=planned.head + first, chunk=n))
        if planned.tail:
            t = PlannedTransition(k, planned.item.transition.kind, planned.tail, planned,
                                  visual[k + 1], planned.start_frame + planned.frames
                                  - planned.tail)
            transitions.append(t)
            segments.append(Segment(t.start_frame, t.frames, transition=t))
    background = tuple(item for item in items if item.kind == "audio")
    return TimelinePlan(tuple(visual), background, fps, start, tuple(transitions),
                        tuple(segments))
