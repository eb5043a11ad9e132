"""The sound of a render, in one ffmpeg pass (more with a loudness target: loudness.py).

Clip sound follows the picture item by item, every piece exactly as many samples as its
item's frames; pieces joined by a transition overlap by the transition's samples and
crossfade (acrossfade), so picture and sound stay locked. The music bed is mixed under
it, lowered by sidechain compression keyed by the clip sound where an item asks to be
ducked, and faded out over the last seconds when the timeline's end cuts it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from rendercli.render.graph import chain, filter_spec
from rendercli.render.pictures import Command
from rendercli.render.presets import (
    AUDIO_CHANNELS,
    AUDIO_RATE,
    BACKGROUND_GAIN,
    FORMAT_SPECS,
    audio_encoder_options,
)
from rendercli.render.timeline import BED_FADE_OUT, RenderSettings, TimelineItem, TimelinePlan

_LAYOUT = "stereo" if AUDIO_CHANNELS == 2 else "mono"
TRUE_PEAK = -1.5  # dBTP ceiling of loudness normalisation
# Ducking: clip sound above -40 dBFS pulls the bed down (about 10 dB under a -18 dBFS tone).
DUCK = {"threshold": 0.01, "ratio": 20, "attack": 20, "release": 400, "makeup": 1}


@dataclass(frozen=True)
class _Piece:
    """Sound of one item: a stretch of a file with its gain and fades, or silence."""

    samples: int
    item: TimelineItem | None = None  # None: silence
    seconds: float = 0.0  # how much of the source to read


def _piece(cmd: Command, piece: _Piece) -> str:
    graph = cmd.graph
    samples = piece.samples
    item = piece.item
    if item is None:
        return graph.add([], chain(
            filter_spec("anullsrc", r=AUDIO_RATE, cl=_LAYOUT),
            filter_spec("aformat", sample_fmts="fltp", sample_rates=AUDIO_RATE,
                        channel_layouts=_LAYOUT),
            filter_spec("atrim", end_sample=samples)))
    src = cmd.user_input(item.path, "-ss", f"{item.trim_start:.6f}",
                         "-t", f"{piece.seconds:.6f}", stream="a:0")
    filters = [
        filter_spec("aresample", AUDIO_RATE, first_pts=0, **{"async": 1}),
        filter_spec("aformat", sample_fmts="fltp", sample_rates=AUDIO_RATE,
                    channel_layouts=_LAYOUT),
        filter_spec("apad", whole_len=samples),
        filter_spec("atrim", end_sample=samples),
    ]
    if item.volume != 1.0:
        filters.append(filter_spec("volume", f"{item.volume:.6f}"))
    length = samples / AUDIO_RATE
    if item.fade_in > 0:
        filters.append(filter_spec("afade", t="in", st=0, d=f"{min(item.fade_in, length):.6f}"))
    if item.fade_out > 0:
        d = min(item.fade_out, length)
        filters.append(filter_spec("afade", t="out", st=f"{length - d:.6f}", d=f"{d:.6f}"))
    return graph.add([src], chain(*filters))


def _sounding(item: TimelineItem) -> bool:
    return item.kind in ("video", "audio") and item.has_audio and not item.mute \
        and item.volume > 0


def _join(cmd: Command, pieces: list[_Piece]) -> str:
    """Pieces back to back; neighbouring silences become one."""
    merged: list[_Piece] = []
    for piece in pieces:
        if merged and piece.item is None and merged[-1].item is None:
            merged[-1] = _Piece(merged[-1].samples + piece.samples)
        else:
            merged.append(piece)
    labels = [_piece(cmd, p) for p in merged]
    if len(labels) == 1:
        return labels[0]
    return cmd.graph.add(labels, filter_spec("concat", n=len(labels), v=0, a=1))


def _clip_track(cmd: Command, plan: TimelinePlan) -> str:
    runs: list[tuple[list[_Piece], int]] = [([], 0)]  # pieces, overlap with the next run
    for p in plan.visual:
        samples = plan.sample_at(p.start_frame + p.frames) - plan.sample_at(p.start_frame)
        item = p.item
        piece = (_Piece(samples, item, p.frames / plan.fps) if _sounding(item)
                 else _Piece(samples))
        runs[-1][0].append(piece)
        if p.tail:
            end = p.start_frame + p.frames
            runs[-1] = (runs[-1][0], plan.sample_at(end) - plan.sample_at(end - p.tail))
            runs.append(([], 0))
    track = _join(cmd, runs[0][0])
    for (_pieces, overlap), (pieces, _next) in itertools.pairwise(runs):
        track = cmd.graph.add([track, _join(cmd, pieces)],
                              filter_spec("acrossfade", ns=overlap, c1="tri", c2="tri"))
    return track


def _bed(cmd: Command, plan: TimelinePlan, ducked: bool) -> str | None:
    """The music items with ``duck == ducked`` (others silent), exactly the timeline's
    length; None if there are none."""
    if not any(i.duck == ducked for i in plan.background):
        return None
    total = plan.total_samples
    pieces = []
    for item in plan.background:
        samples = round(item.duration * AUDIO_RATE)
        sounding = item.duck == ducked and _sounding(item)
        pieces.append(_Piece(samples, item, item.duration) if sounding else _Piece(samples))
    filters = [filter_spec("apad", whole_len=total), filter_spec("atrim", end_sample=total)]
    if sum(p.samples for p in pieces) >= total:  # cut by the end: fade out instead
        fade = min(BED_FADE_OUT, total / AUDIO_RATE)
        filters.append(filter_spec("afade", t="out", st=f"{total / AUDIO_RATE - fade:.6f}",
                                   d=f"{fade:.6f}"))
    return cmd.graph.add([_join(cmd, pieces)], chain(*filters))


def mix_graph(cmd: Command, plan: TimelinePlan) -> str:
    """Add the whole soundtrack to ``cmd``'s graph; returns its label."""
    track = _clip_track(cmd, plan)
    free = _bed(cmd, plan, ducked=False)
    ducked = _bed(cmd, plan, ducked=True)
    graph = cmd.graph
    if free is None and ducked is None:
        return track
    mixed = [track]
    if ducked is not None:
        track, key = graph.label(), graph.label()
        graph.add([mixed[0]], filter_spec("asplit", 2), [track, key])
        mixed = [track, graph.add([ducked, key], filter_spec("sidechaincompress", **DUCK))]
    if free is not None:
        mixed.append(free)
    weights = " ".join(["1"] + [str(BACKGROUND_GAIN)] * (len(mixed) - 1))
    return graph.add(mixed, chain(
        filter_spec("amix", inputs=len(mixed), duration="first", dropout_transition=0,
                    normalize=0, weights=weights),
        filter_spec("atrim", end_sample=plan.total_samples)))


def _encode(settings: RenderSettings, out: Path) -> list[str]:
    spec = FORMAT_SPECS[settings.fmt]
    args = ["-f", str(spec.audio_muxer), "-vn"]
    for key, value in audio_encoder_options(settings.fmt, settings.quality).items():
        args += [f"-{key}", str(value)]
    return [*args, str(out)]


def audio_command(plan: TimelinePlan, settings: RenderSettings, out: Path) -> list[str]:
    """Render and encode the whole soundtrack in one pass."""
    cmd = Command()
    label = mix_graph(cmd, plan)
    return cmd.argv(["-map", f"[{label}]", *_encode(settings, out)])


def measure_command(plan: TimelinePlan, settings: RenderSettings, mix: Path) -> list[str]:
    """Loudness pass 1: the mix, kept losslessly, and its EBU R128 measurement (ebur128
    prints a summary on stderr, read by ``parse_ebur128``)."""
    assert settings.loudness is not None
    cmd = Command()
    label = mix_graph(cmd, plan)
    keep, measure = cmd.graph.label(), cmd.graph.label()
    cmd.graph.add([label], filter_spec("asplit", 2), [keep, measure])
    measured = cmd.graph.add([measure], _EBUR128)
    argv = cmd.argv(["-map", f"[{keep}]", "-f", "wav", "-c:a", "pcm_f32le", str(mix),
                     "-map", f"[{measured}]", "-f", "null", "-"])
    return _info_level(argv)


def normalise_command(plan: TimelinePlan, settings: RenderSettings, mix: Path,
                      gain_db: float, limit: bool, out: Path) -> list[str]:
    """Loudness pass 2: the mix times ``gain_db`` (through a true-peak limiter at
    TRUE_PEAK when ``limit``), encoded."""
    cmd = Command()
    src = cmd.input(mix, "-protocol_whitelist", "file", "-format_whitelist", "wav",
                    "-f", "wav", stream="a:0")
    total = plan.total_samples
    limiter = chain(
        # 4x oversampled, so the limit holds between samples too (true peak), and
        # delay-compensated, so picture and sound stay locked.
        filter_spec("aresample", 4 * AUDIO_RATE),
        filter_spec("alimiter", limit=f"{10 ** (TRUE_PEAK / 20):.6f}", attack=1, release=50,
                    level=0, latency=1),
    ) if limit else ""
    label = cmd.graph.add([src], chain(
        filter_spec("volume", f"{gain_db:.4f}dB", precision="double"),
        limiter,
        filter_spec("aresample", AUDIO_RATE),
        filter_spec("aformat", sample_fmts="fltp", sample_rates=AUDIO_RATE,
                    channel_layouts=_LAYOUT),
        filter_spec("apad", whole_len=total), filter_spec("atrim", end_sample=total)))
    return cmd.argv(["-map", f"[{label}]", *_encode(settings, out)])


def check_command(settings: RenderSettings, audio: Path) -> list[str]:
    """Loudness check: the encoded soundtrack decoded and measured as a player hears it
    (the encoder's low-pass alone can take a dB or more off bright sound)."""
    demuxer = FORMAT_SPECS[settings.fmt].segment_demuxer
    cmd = Command()
    src = cmd.input(audio, "-protocol_whitelist", "file", "-format_whitelist", demuxer,
                    "-f", demuxer, stream="a:0")
    label = cmd.graph.add([src], _EBUR128)
    return _info_level(cmd.argv(["-map", f"[{label}]", "-f", "null", "-"]))


# framelog as a number (AV_LOG_QUIET): ffmpeg 5.1 knows no "quiet" name for it
_EBUR128 = filter_spec("ebur128", peak="true", framelog=-8)


def _info_level(argv: list[str]) -> list[str]:
    # ebur128 reports at the info level; everything else stays quiet
    at = argv.index("-loglevel")
    return [*argv[: at + 1], "info", *argv[at + 2:]]


_SUMMARY = re.compile(r"\[Parsed_ebur128[^\]]*\]\s*Summary:")
_NUMBER = r"(-?(?:[0-9]+(?:\.[0-9]*)?|inf))"


def parse_ebur128(stderr: str) -> dict[str, float]:
    """Integrated loudness ``i`` (LUFS; -70 or below: silence), loudness range ``lra``
    (LU) and true peak ``tp`` (dBTP) from ebur128's summary (the last on ``stderr``).

    Raises ValueError if there is none or it is malformed.
    """
    starts = [m.end() for m in _SUMMARY.finditer(stderr)]
    if not starts:
        raise ValueError("ffmpeg printed no loudness measurement")
    summary = stderr[starts[-1]:]
    values = {}
    for key, pattern in (("i", r"I:\s*" + _NUMBER + r"\s*LUFS"),
                         ("lra", r"LRA:\s*" + _NUMBER + r"\s*LU\b"),
                         ("tp", r"Peak:\s*" + _NUMBER + r"\s*dBFS")):
        found = re.search(pattern, summary)
        if found is None:
            raise ValueError(f"ffmpeg's loudness summary has no {key.upper()}")
        values[key] = float(found.group(1))
    return values
