"""The picture side of a render: one ffmpeg command per segment (an item's body or a
transition), each producing an exact number of frames.

Every picture item is a function of its own frame number: ``item_frames`` renders any
range of an item's frames, with its fades, text and motion evaluated at item-local
times, so an item's body and the parts of it shown inside transitions (rendered by
other commands) are cut from the same picture. Graphs are built as strings here
(``graph.py`` escapes every value), so two inputs of the same file stay two inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rendercli.media.colour import Conversion
from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.render import colour
from rendercli.render.commands import GLOBAL_ARGS
from rendercli.render.graph import Graph, chain, filter_spec
from rendercli.render.inputs import INPUT_FORMAT_WHITELIST, image_demuxer
from rendercli.render.presets import FORMAT_SPECS, segment_pix_fmt, video_encoder_options
from rendercli.render.subtitles import overlay_range, text_filters
from rendercli.render.text import label_filter
from rendercli.render.timeline import (
    XFADE_KINDS,
    PlannedItem,
    PlannedTransition,
    RenderSettings,
    Segment,
    TextOverlay,
    effective_fit,
    parse_color,
)

# Clip bodies read from this far before their first frame (whole frames), so the source
# frame each output frame shows is the same in every segment and in ``render frame``
# (a source with fewer than 1 / LOOKBACK_SECONDS frames a second may still differ).
LOOKBACK_SECONDS = 0.5
MOTION_ZOOM = 0.15  # Ken Burns: zoom from 1 to 1 + this (or back), or pan at this zoom
# fit "blur": the background copy is blurred at 1/BLUR_SHRINK of the frame's size (cheap)
# with a Gaussian of BLUR_SIGMA pixels there, then scaled up to fill the frame.
BLUR_SHRINK = 8
BLUR_SIGMA = 6


def _round_frames(seconds: float, fps: int) -> int:
    return int(seconds * fps + 0.5)


@dataclass
class Command:
    """An ffmpeg argv under construction: inputs, one graph, one output."""

    inputs: list[str] = field(default_factory=list)
    count: int = 0
    graph: Graph = field(default_factory=Graph)

    def user_input(self, path: Path, *options: str, stream: str = "v:0") -> str:
        """Open user media with the protocol and format allow-lists; returns the label
        of its first video (or ``stream``) stream."""
        return self.input(path, *options, "-protocol_whitelist", "file",
                          "-format_whitelist", INPUT_FORMAT_WHITELIST, stream=stream)

    def input(self, path: Path, *options: str, stream: str) -> str:
        """Any input, with its options (allow-lists included) given by the caller."""
        self.inputs += [*options, "-i", str(path)]
        self.count += 1
        return f"{self.count - 1}:{stream}"

    def argv(self, output: Sequence[str]) -> list[str]:
        """The full argv; ``output`` maps graph labels (``-map [label]``) to outputs."""
        return [ffmpeg_path(), *GLOBAL_ARGS, *self.inputs, "-filter_complex", str(self.graph),
                *output]


def fit_filters(settings: RenderSettings, conversion: Conversion | None = None) -> str:
    """Scale to fit the preset keeping aspect ratio, converting from what the source is
    (``conversion``; None: RGB) into the working colour space, pad with black, square
    pixels, tagged."""
    w, h = settings.size
    return chain(
        filter_spec("scale", w, h, force_original_aspect_ratio="decrease",
                    force_divisible_by=2, **colour.scale_in(conversion),
                    **colour.scale_out()),
        filter_spec("format", segment_pix_fmt(settings.fmt)),
        filter_spec("pad", w, h, "(ow-iw)/2", "(oh-ih)/2", color="black"),
        filter_spec("setsar", 1),
        colour.tag(),
    )


def fit_picture(graph: Graph, label: str, settings: RenderSettings, fit: str,
                conversion: Conversion | None = None) -> str:
    """The picture ``label`` brought to the frame's size by ``fit``: ``contain`` (all of
    it, black bars), ``cover`` (scaled to fill, centred, the overflow cropped) or
    ``blur`` (all of it, over a blurred copy scaled to cover the frame), converted from
    what the source is (``conversion``; None: RGB) into the working colour space.
    Returns the label of the fitted stream (square pixels, the segment's pixel format,
    tagged)."""
    if fit == "contain":
        return graph.add([label], fit_filters(settings, conversion))
    w, h = settings.size
    done = chain(filter_spec("setsar", 1), filter_spec("format", segment_pix_fmt(settings.fmt)),
                 colour.tag())
    if fit == "cover":
        return graph.add([label], chain(
            filter_spec("scale", w, h, force_original_aspect_ratio="increase",
                        **colour.scale_in(conversion), **colour.scale_out()),
            filter_spec("crop", w, h), done))
    assert fit == "blur", fit
    # Both layers in RGB (read from what the source is), joined, then converted once.
    rgb = graph.add([label], chain(
        filter_spec("scale", **colour.scale_in(conversion), out_range="pc")
        if conversion is not None and not conversion.rgb else "",
        filter_spec("format", "rgb24")))
    front, back = graph.label(), graph.label()
    graph.add([rgb], filter_spec("split", 2), [front, back])
    sw, sh = max(2, w // BLUR_SHRINK), max(2, h // BLUR_SHRINK)
    back = graph.add([back], chain(
        filter_spec("scale", sw, sh, force_original_aspect_ratio="increase"),
        filter_spec("crop", sw, sh), filter_spec("gblur", sigma=BLUR_SIGMA),
        filter_spec("scale", w, h, flags="bicubic"), filter_spec("setsar", 1)))
    front = graph.add([front], chain(
        filter_spec("scale", w, h, force_original_aspect_ratio="decrease",
                    force_divisible_by=2), filter_spec("setsar", 1)))
    return graph.add([back, front], chain(
        # format=rgb: overlay would otherwise blend in yuv420, converted its own way
        filter_spec("overlay", "(W-w)/2", "(H-h)/2", format="rgb"),
        filter_spec("scale", **colour.scale_out()), done))


def _motion_filters(planned: PlannedItem, first: int, settings: RenderSettings) -> str:
    """Ken Burns on a still, free of judder. zoompan crops at whole pixels (1-pixel
    steps are visible in a slow move); ``perspective`` maps a source rectangle with
    sub-pixel corners (1/256 px) onto the frame, evaluated per frame from the item-local
    frame number -- and costs a third of zoompan on a 4x-upscaled still."""
    last = max(1, planned.frames - 1)
    p = f"((in+{first})/{last})"  # 0 on the item's first frame, 1 on its last
    zoom = {"zoom-in": f"(1+{MOTION_ZOOM}*{p})", "zoom-out": f"(1+{MOTION_ZOOM}*(1-{p}))"}.get(
        planned.item.motion or "", f"{1 + MOTION_ZOOM}")
    cw, ch = f"(W/{zoom})", f"(H/{zoom})"
    x = {"pan-left": f"((W-{cw})*(1-{p}))", "pan-right": f"((W-{cw})*{p})"}.get(
        planned.item.motion or "", f"((W-{cw})/2)")
    y = f"((H-{ch})/2)"
    return filter_spec("perspective", x0=x, y0=y, x1=f"{x}+{cw}", y1=y, x2=x, y2=f"{y}+{ch}",
                       x3=f"{x}+{cw}", y3=f"{y}+{ch}", interpolation="cubic",
                       sense="source", eval="frame")


def fade_ranges(planned: PlannedItem, fps: int) -> tuple[int, int]:
    """Frames of fade from black at the start and to black at the end (0: none)."""
    item = planned.item
    return (min(_round_frames(item.fade_in, fps), planned.frames),
            min(_round_frames(item.fade_out, fps), planned.frames))


def visible_effects(planned: PlannedItem, first: int, count: int,
                    fps: int) -> tuple[list[TextOverlay], bool, bool]:
    """The overlays and fades (in, out) that touch frames [first, first + count)."""
    end = first + count
    overlays = []
    for overlay in planned.item.texts:
        s, e = overlay_range(overlay, planned.frames, fps)
        if s < end and e > first:
            overlays.append(overlay)
    fade_in, fade_out = fade_ranges(planned, fps)
    return (overlays, fade_in > 0 and first < fade_in,
            fade_out > 0 and end > planned.frames - 1 - fade_out)


def item_frames(cmd: Command, planned: PlannedItem, first: int, count: int,
                settings: RenderSettings, work_dir: Path) -> str:
    """Add frames [first, first + count) of a picture item to ``cmd``'s graph, timed
    from the item's start (frame n at n / fps); returns the label of the stream."""
    item, fps = planned.item, settings.fps
    graph = cmd.graph
    if item.kind == "video":
        # Source frames are picked on the item's own frame grid whichever range is read:
        # reading starts a few whole frames early (times stay relative to that point, on
        # the grid: no PTS-STARTPTS, which would slide the grid to the first source frame
        # after the seek), so a frame whose pick lies before ``first`` gets it, and the
        # early frames are dropped. One frame beyond the range gives the fps filter a
        # frame to round towards; a source that ends early holds its last frame (tpad).
        early = min(first, math.ceil(LOOKBACK_SECONDS * fps))
        src = cmd.user_input(item.path, "-ss", f"{item.trim_start + (first - early) / fps:.6f}",
                             "-t", f"{(early + count + 1) / fps:.6f}")
        label = graph.add([src], chain(filter_spec("fps", fps, start_time=0),
                                       filter_spec("trim", start_frame=early)))
        label = graph.add([fit_picture(graph, label, settings, effective_fit(item),
                                       item.colour)], chain(
            filter_spec("tpad", stop=-1, stop_mode="clone"),
            filter_spec("trim", end_frame=count)))
    elif item.kind == "image":
        # Decode the still once: composite on black (premultiplying by alpha is exactly
        # "over black"), fit it, then repeat that single frame (or move over it).
        demuxer = image_demuxer(item.path)
        src = cmd.user_input(item.path, *(("-f", demuxer) if demuxer else ()))
        fit = effective_fit(item)
        still = graph.add([src], chain(
            filter_spec("trim", end_frame=1), colour.to_rgb(item.colour),
            filter_spec("premultiply", inplace=1),
            # over black, also where blur's overlay would read the alpha
            filter_spec("format", "rgb24") if fit == "blur" else ""))
        # A moving still covers the frame (effective_fit), so the move never shows bars.
        still = fit_picture(graph, still, settings, fit)
        moving = chain(filter_spec("loop", loop=-1, size=1, start=0),
                       filter_spec("settb", f"1/{fps}"), "setpts=N", filter_spec("fps", fps))
        if item.motion:
            moving = chain(moving, _motion_filters(planned, first, settings))
        label = graph.add([still], chain(moving, filter_spec("trim", end_frame=count)))
    else:
        assert item.title is not None
        w, h = settings.size
        card = item.title
        # Drawn once in RGB (exact colours whatever the ffmpeg), converted like a still,
        # then repeated.
        label = graph.add([], chain(
            filter_spec("color", c=parse_color(card.background), s=f"{w}x{h}", r=fps),
            filter_spec("trim", end_frame=1), filter_spec("format", "rgb24"),
            fit_filters(settings), filter_spec("loop", loop=-1, size=1, start=0),
            filter_spec("settb", f"1/{fps}"), "setpts=N", filter_spec("trim", end_frame=count)))
    # Item-local time, so fades and text timings hold in whichever range is rendered.
    effects = [filter_spec("settb", f"1/{fps}"), f"setpts=N+{first}"]
    _overlays, fade_in, fade_out = visible_effects(planned, first, count, fps)
    effects += text_filters(planned, first, count, fps, settings.size, work_dir)  # + title
    frames_in, frames_out = fade_ranges(planned, fps)
    if fade_in:
        effects.append(filter_spec("fade", t="in", st=0, d=f"{frames_in / fps:.6f}"))
    if fade_out:
        start = max(0, planned.frames - 1 - frames_out)
        effects.append(filter_spec("fade", t="out", st=f"{start / fps:.6f}",
                                   d=f"{frames_out / fps:.6f}"))
    effects += [filter_spec("format", segment_pix_fmt(settings.fmt)), colour.tag()]
    return graph.add([label], chain(*effects))


def _output(frames: int, settings: RenderSettings, out: Path) -> list[str]:
    spec = FORMAT_SPECS[settings.fmt]
    args = ["-f", spec.segment_ext, "-an", "-frames:v", str(frames)]
    for key, value in video_encoder_options(settings.fmt, settings.quality,
                                            settings.fps).items():
        args += [f"-{key}", str(value)]
    return [*args, str(out)]


def segment_command(segment: Segment, settings: RenderSettings, out: Path,
                    work_dir: Path) -> list[str]:
    """Encode one segment (an item's body, or a transition) into a video-only file of
    exactly ``segment.frames`` frames."""
    cmd = Command()
    if segment.transition is not None:
        label = _transition(cmd, segment.transition, settings, work_dir)
    else:
        planned = segment.item
        assert planned is not None
        label = item_frames(cmd, planned, segment.item_first, segment.frames, settings, work_dir)
        label = cmd.graph.add([label], "setpts=PTS-STARTPTS")  # every segment starts at 0
    return cmd.argv(["-map", f"[{label}]", *_output(segment.frames, settings, out)])


def _transition(cmd: Command, transition: PlannedTransition, settings: RenderSettings,
                work_dir: Path) -> str:
    frames, fps = transition.frames, settings.fps
    before = transition.before
    tail = item_frames(cmd, before, before.frames - frames, frames, settings, work_dir)
    head = item_frames(cmd, transition.after, 0, frames, settings, work_dir)
    graph = cmd.graph
    tail = graph.add([tail], "setpts=PTS-STARTPTS")
    head = graph.add([head], "setpts=PTS-STARTPTS")
    # xfade's progress runs from all-outgoing on frame 0 to nearly all-incoming on the
    # last frame; the incoming item's body starts on the frame after.
    kind = XFADE_KINDS.get(transition.kind, transition.kind)
    return graph.add([tail, head], chain(
        filter_spec("xfade", transition=kind, duration=f"{frames / fps:.6f}", offset=0),
        filter_spec("trim", end_frame=frames),
        filter_spec("format", segment_pix_fmt(settings.fmt)), colour.tag()))


def _still_output(out: Path) -> list[str]:
    return ["-frames:v", "1", "-f", "image2", "-c:v", "png", "-update", "1", str(out)]


def _to_rgb(label: str, graph: Graph) -> str:
    # The segment's pixel format, then to RGB as a player would show it.
    return graph.add([label], chain("setpts=PTS-STARTPTS", colour.working_to_rgb()))


def frame_command(segment: Segment, frame: int, settings: RenderSettings, out: Path,
                  work_dir: Path) -> list[str]:
    """One frame of the output, ``frame`` frames into ``segment``, as a PNG: drawn by the
    same graph code as ``segment_command`` (an item's own frame, or the transition's)."""
    cmd = Command()
    if segment.transition is not None:
        # xfade's progress depends on the frame's place in the whole transition: draw the
        # transition (a second or so) and keep the one frame.
        label = _transition(cmd, segment.transition, settings, work_dir)
        label = cmd.graph.add([label], filter_spec("trim", start_frame=frame,
                                                   end_frame=frame + 1))
    else:
        planned = segment.item
        assert planned is not None
        # Item-local frame number: items are functions of their own frame number.
        local = segment.start_frame - planned.start_frame + frame
        label = item_frames(cmd, planned, local, 1, settings, work_dir)
    return cmd.argv(["-map", f"[{_to_rgb(label, cmd.graph)}]", *_still_output(out)])


@dataclass(frozen=True)
class SheetLayout:
    """A contact sheet's geometry: a grid of tiles, each a thumbnail over two label lines."""

    columns: int
    rows: int
    thumb: tuple[int, int]  # thumbnail size, fitted inside the tile's picture area
    tile: tuple[int, int]
    gap: int = 8

    @property
    def size(self) -> tuple[int, int]:
        w, h = self.tile
        return (self.columns * w + (self.columns + 1) * self.gap,
                self.rows * h + (self.rows + 1) * self.gap)


SHEET_BACKGROUND = "0x1a1a1a"
TILE_BACKGROUND = "0x2a2a2a"
THUMB_BOX = (320, 180)
LABEL_PX = 15
LABEL_LINES = 2
MIN_TILE_WIDTH = 240


def sheet_layout(count: int, settings: RenderSettings, columns: int = 4) -> SheetLayout:
    """The grid for ``count`` items at the preset's aspect ratio."""
    w, h = settings.size
    box_w, box_h = THUMB_BOX
    scale = min(box_w / w, box_h / h)
    thumb = (max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2))
    label_h = LABEL_LINES * (LABEL_PX + 6) + 8
    tile = (max(thumb[0], MIN_TILE_WIDTH), thumb[1] + label_h)
    cols = max(1, min(columns, count))
    return SheetLayout(cols, -(-count // cols), thumb, tile)


def sheet_command(tiles: Sequence[tuple[PlannedItem | None, str, str]],
                  settings: RenderSettings, layout: SheetLayout, out: Path,
                  work_dir: Path) -> list[str]:
    """A contact sheet as one PNG: for each tile, a picture item's middle frame drawn by
    ``item_frames`` (the same code as the render; None: a plain tile, for music) scaled
    into the tile, with two label lines under it. Label text is data: drawtext reads it
    from a file (``label_filter``), never from the graph."""
    cmd = Command()
    graph = cmd.graph
    tile_w, tile_h = layout.tile
    thumb_w, thumb_h = layout.thumb
    fps = settings.fps
    labels = []
    for planned, line1, line2 in tiles:
        if planned is not None:
            picture = item_frames(cmd, planned, planned.frames // 2, 1, settings, work_dir)
            picture = graph.add([picture], chain(
                "setpts=PTS-STARTPTS",
                filter_spec("scale", thumb_w, thumb_h, flags="bicubic",
                            **colour.scale_in(colour.WORKING), out_range="pc"),
                filter_spec("setsar", 1), filter_spec("format", "rgb24"),
                filter_spec("pad", tile_w, tile_h, f"({tile_w}-{thumb_w})/2", 0,
                            color=TILE_BACKGROUND)))
        else:
            picture = graph.add([], chain(
                filter_spec("color", c=TILE_BACKGROUND, s=f"{tile_w}x{tile_h}", r=fps),
                filter_spec("trim", end_frame=1), filter_spec("setsar", 1),
                filter_spec("format", "rgb24")))
        first_y = thumb_h + 6
        labels.append(graph.add([picture], chain(
            label_filter(line1, work_dir, x=8, y=first_y, size=LABEL_PX, color="0xb0b0b0",
                         max_width=tile_w - 16),
            label_filter(line2, work_dir, x=8, y=first_y + LABEL_PX + 6, size=LABEL_PX,
                         color="white", max_width=tile_w - 16),
            filter_spec("settb", f"1/{fps}"), "setpts=0")))
    count = len(labels)
    cells = layout.columns * layout.rows
    for _ in range(cells - count):  # the last row's empty cells
        labels.append(graph.add([], chain(
            filter_spec("color", c=SHEET_BACKGROUND, s=f"{tile_w}x{tile_h}", r=fps),
            filter_spec("trim", end_frame=1), filter_spec("setsar", 1),
            filter_spec("format", "rgb24"), filter_spec("settb", f"1/{fps}"), "setpts=0")))
    gap = layout.gap
    sheet = graph.add(labels, chain(
        filter_spec("concat", n=len(labels), v=1, a=0),
        filter_spec("tile", f"{layout.columns}x{layout.rows}", padding=gap, margin=gap,
                    color=SHEET_BACKGROUND)))
    return cmd.argv(["-map", f"[{sheet}]", *_still_output(out)])
