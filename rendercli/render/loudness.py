"""A loudness target met on the output, not on the way to it.

Why a single loudnorm pass (or loudnorm's two-pass linear mode) misses: its linear mode
is refused for programs shorter than its loudness-range window (it then falls back to
its dynamic mode, which undershoots), its own meter reads a few tenths off ffmpeg's
``ebur128``, and above all the audio encoder changes the loudness after it (AAC and
Opus low-pass bright sound: a dB or more on noisy material). So the target is met on the
encoded soundtrack, measured the way anyone checks it (``ebur128``):

1. measure: the mix is rendered once to a lossless file and measured;
2. normalise: a plain gain of target - measured (through a true-peak limiter at
   TRUE_PEAK when the gain would push peaks above it), encoded;
3. check: the encoded soundtrack is decoded and measured;
4. correct: if it is more than CORRECT_ABOVE LU off, the gain is corrected by the miss
   and the soundtrack encoded again (the encoder's loss is nearly the same in dB; a
   second correction uses the slope the first one showed, which a limiter flattens);
5. check again, when step 4 ran; steps 4 and 5 at most CORRECTIONS times.

The report (RenderResult.loudness) holds ``input_i``/``input_tp``/``input_lra`` (the
mix), ``output_i`` (the encoded soundtrack, as measured), ``target``, ``gain_db``,
``limited`` (1: the limiter was needed) and ``linear`` (1: a plain gain).
"""

from __future__ import annotations

import math
from pathlib import Path

from rendercli.render import soundtrack
from rendercli.render.errors import RenderFailed
from rendercli.render.scheduler import Step
from rendercli.render.timeline import RenderSettings, TimelinePlan
from rendercli.render.verify import SourceCheck

CORRECTIONS = 2  # at most this many corrected encodes
MAX_STEP = 6.0  # dB: the most one correction changes the gain
CORRECT_ABOVE = 0.1  # LU: a smaller miss is left alone (ebur128 reads to 0.1 LU)
SILENCE = -70.0  # LUFS: ebur128's reading of silence; nothing to normalise
TOLERANCE = 0.5  # LU: a larger miss is reported as a warning


def _measure(what: str, stderr: str) -> dict[str, float]:
    try:
        return soundtrack.parse_ebur128(stderr)
    except ValueError as exc:
        raise RenderFailed(f"loudness measurement ({what}) failed: {exc}", stderr) from None


def loudness_steps(plan: TimelinePlan, settings: RenderSettings, work_dir: Path, audio: Path,
                   report: dict[str, float], sources: SourceCheck | None = None) -> list[Step]:
    """The steps that render the soundtrack into ``audio`` at ``settings.loudness``;
    ``report`` receives the measurements as they come. ``sources`` checks the stored
    files the mix reads (only the first step reads them; the others read the mix)."""
    assert settings.loudness is not None
    target = settings.loudness
    total_us = plan.duration * 1e6
    weight = plan.total_frames * 0.03
    mix = work_dir / "mix.wav"
    tries: list[tuple[float, float]] = []  # (gain, measured output) of each encode
    gain = [0.0]  # the gain of the encode in progress

    def measured(stderr: str) -> None:
        found = _measure("mix", stderr)
        report.update(input_i=found["i"], input_tp=found["tp"], input_lra=found["lra"],
                      target=target)

    def silent() -> bool:
        return not math.isfinite(report["input_i"]) or report["input_i"] <= SILENCE

    def encode(value: float) -> list[str]:
        limit = not silent() and report["input_tp"] + value > soundtrack.TRUE_PEAK
        gain[0] = value
        report.update(gain_db=round(value, 2), limited=float(limit), linear=float(not limit))
        return soundtrack.normalise_command(plan, settings, mix, value, limit, audio)

    def normalise() -> list[str]:
        return encode(0.0 if silent() else target - report["input_i"])

    def checked(stderr: str) -> None:
        found = _measure("output", stderr)
        report.update(output_i=found["i"], output_tp=found["tp"])
        tries.append((gain[0], found["i"]))

    def correct() -> list[str] | None:
        last_gain, last_out = tries[-1]
        miss = target - last_out
        if silent() or not math.isfinite(miss) or abs(miss) <= CORRECT_ABOVE:
            return None
        slope = 1.0  # LU of output per dB of gain: 1 for a plain gain
        if len(tries) > 1 and tries[-1][0] != tries[-2][0]:
            (g0, o0), (g1, o1) = tries[-2], tries[-1]
            slope = min(1.5, max(0.3, (o1 - o0) / (g1 - g0)))  # a limiter flattens it
        step = max(-MAX_STEP, min(MAX_STEP, miss / slope))
        return encode(last_gain + step)

    def check_again() -> list[str] | None:  # only after a correction
        return soundtrack.check_command(settings, audio) if gain[0] != tries[-1][0] else None

    steps = [
        Step("audio-measure", soundtrack.measure_command(plan, settings, mix), weight,
             total_us=total_us, on_success=measured, sources=sources),
        Step("audio", [], weight, deps=("audio-measure",), total_us=total_us,
             prepare=normalise),
        Step("audio-check", [], weight * 0.5, deps=("audio",), total_us=total_us,
             prepare=lambda: soundtrack.check_command(settings, audio), on_success=checked),
    ]
    for n in range(1, CORRECTIONS + 1):
        before = steps[-1].name
        steps.append(Step(f"audio-correct-{n}", [], weight, deps=(before,),
                          total_us=total_us, prepare=correct))
        steps.append(Step(f"audio-recheck-{n}", [], weight * 0.5,
                          deps=(f"audio-correct-{n}",), total_us=total_us,
                          prepare=check_again, on_success=checked))
    return steps


def loudness_line(report: dict[str, float], target: float | None) -> str:
    """The job log's line: what the mix measured and what the output measures."""
    nan = float("nan")
    return (f"loudness: measured {report.get('input_i', nan):.1f} LUFS "
            f"(true peak {report.get('input_tp', nan):.1f} dBTP), normalised to "
            f"{report.get('output_i', nan):.1f} LUFS (target {target:g})")


def loudness_miss(report: dict[str, float] | None, target: float | None) -> float | None:
    """How far the output's measured loudness is from the target (LU, signed), or None
    without a target or a measurement (a silent soundtrack has no loudness)."""
    if not report or target is None:
        return None
    measured = report.get("output_i")
    if measured is None or not math.isfinite(measured) or measured <= SILENCE:
        return None
    return measured - target
