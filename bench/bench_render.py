"""Benchmark the render engine against one hand-written ffmpeg command.

Reference project: four 10 s 720p clips with sound and one still image, rendered to
720p mp4 (standard quality) at 30 fps. Prints, side by side:

* the reference: ONE ffmpeg command producing the same output with the same encoder
  settings (libx264 veryfast crf 23, 2 s closed GOP, AAC 160k, faststart);
* first render (empty cache) / reference          -- target <= 1.10
* re-render after replacing one clip / first       -- target <= 0.40
* unchanged re-render (cache hit), seconds         -- target <= 0.5

Run: PYTHONPATH=. /tmp/v/bin/python bench/bench_render.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.render.engine import RenderSettings, TimelineItem, render_timeline
from rendercli.render.presets import PRESETS, audio_encoder_options, video_encoder_options
from tests.media_factory import make_image, make_video

CLIP_SECONDS = 10.0
IMAGE_SECONDS = 3.0
SETTINGS = RenderSettings(preset="720p", fmt="mp4", fps=30, quality="standard")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _item(path: Path, kind: str, duration: float) -> TimelineItem:
    return TimelineItem(path=path, sha256=_sha(path), kind=kind,  # type: ignore[arg-type]
                        duration=duration, trim_start=0.0, has_audio=kind == "video",
                        width=1280, height=720, rotation=0)


def make_project(root: Path) -> tuple[list[Path], Path, Path]:
    """Four clips, one image, and a replacement clip for the incremental run."""
    clips = [make_video(root / f"clip{i}.mp4", duration=CLIP_SECONDS, size=(1280, 720), fps=30,
                        tone=300 + 100 * i) for i in range(4)]
    image = make_image(root / "still.png", size=(1280, 720))
    replacement = make_video(root / "clip1b.mp4", duration=CLIP_SECONDS, size=(1280, 720),
                             fps=30, tone=880)
    return clips, image, replacement


def reference_command(clips: list[Path], image: Path, out: Path) -> list[str]:
    """The hand-written single command: same filters and encoder settings as the engine."""
    w, h = PRESETS[SETTINGS.preset]
    fps = SETTINGS.fps
    fit = (f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
           f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p")
    args = [ffmpeg_path(), "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    graph = []
    for i, clip in enumerate(clips):
        args += ["-t", str(CLIP_SECONDS), "-i", str(clip)]
        graph.append(f"[{i}:v]fps={fps},{fit}[v{i}]")
        graph.append(f"[{i}:a]aresample=48000,aformat=channel_layouts=stereo,"
                     f"apad=whole_len={int(CLIP_SECONDS * 48000)},"
                     f"atrim=end_sample={int(CLIP_SECONDS * 48000)}[a{i}]")
    n = len(clips)
    args += ["-i", str(image)]
    graph.append(f"[{n}:v]format=rgba,premultiply=inplace=1,{fit},loop=loop=-1:size=1,"
                 f"settb=1/{fps},setpts=N,fps={fps},trim=end_frame={int(IMAGE_SECONDS * fps)}"
                 f"[v{n}]")
    graph.append(f"anullsrc=r=48000:cl=stereo,atrim=end_sample={int(IMAGE_SECONDS * 48000)}"
                 f"[a{n}]")
    graph.append("".join(f"[v{i}][a{i}]" for i in range(n + 1)) + f"concat=n={n + 1}:v=1:a=1[v][a]")
    venc = video_encoder_options("mp4", SETTINGS.quality, fps)
    aenc = audio_encoder_options("mp4", SETTINGS.quality)
    args += ["-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]"]
    for key, value in {**venc, **aenc}.items():
        args += [f"-{key}", str(value)]
    args += ["-movflags", "+faststart", str(out)]
    return args


CPU: dict[str, list[float]] = {}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(fn, label: str = ""):  # type: ignore[no-untyped-def]
    """(wall seconds, result); also records the CPU seconds ffmpeg children used."""
    cpu = _child_cpu()
    start = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    CPU.setdefault(label, []).append(_child_cpu() - cpu)
    return wall, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measure everything this many times, interleaved; report the "
                             "fastest of each (the machine may be shared)")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rendercli-bench-") as tmp:
        root = ns.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        print("generating the reference project ...", flush=True)
        clips, image, replacement = make_project(root)
        items = [_item(c, "video", CLIP_SECONDS) for c in clips]
        items.append(_item(image, "image", IMAGE_SECONDS))
        changed = list(items)
        changed[1] = _item(replacement, "video", CLIP_SECONDS)

        times: dict[str, list[float]] = {"ref": [], "first": [], "incr": [], "hit": []}
        for n in range(ns.rounds):
            storage = root / f"storage{n}"  # empty cache every round
            ref, _ = timed(lambda: subprocess.run(
                reference_command(clips, image, root / "reference.mp4"), check=True), "ref")
            first_t, first = timed(lambda s=storage: render_timeline(items, SETTINGS,
                                                                     storage_dir=s), "first")
            incr_t, incr = timed(lambda s=storage: render_timeline(changed, SETTINGS,
                                                                   storage_dir=s))
            hit_t, hit = timed(lambda s=storage: render_timeline(changed, SETTINGS,
                                                                 storage_dir=s))
            assert not first.cache_hit and len(first.segments_encoded) == 5
            assert len(incr.segments_encoded) == 1 and hit.cache_hit
            for key, value in zip(times, (ref, first_t, incr_t, hit_t), strict=True):
                times[key].append(value)
            print(f"round {n + 1}: reference {ref:.2f} s, first {first_t:.2f} s, "
                  f"one clip changed {incr_t:.2f} s, cache hit {hit_t:.3f} s", flush=True)

        ref, first_t, incr_t, hit_t = (min(v) for v in times.values())
        print(f"reference (one ffmpeg command):     {ref:7.2f} s")
        print(f"engine, first render:               {first_t:7.2f} s   "
              f"ratio {first_t / ref:5.2f}  (target <= 1.10)")
        print(f"engine, one clip changed:           {incr_t:7.2f} s   "
              f"ratio {incr_t / first_t:5.2f}  (target <= 0.40 of first)")
        cpu_ref, cpu_first = min(CPU["ref"]), min(CPU["first"])
        print(f"CPU seconds (user+sys): reference {cpu_ref:.1f}, first render {cpu_first:.1f} "
              f"(ratio {cpu_first / cpu_ref:.2f}; load-independent)")
        print(f"engine, unchanged (cache hit):      {hit_t:7.3f} s            "
              f"(target <= 0.5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
