"""Benchmark the render engine against one hand-written ffmpeg command.

Reference project: four 10 s 720p clips with sound and one still image, rendered to
720p mp4 (standard quality) at 30 fps. Prints, side by side:

* the reference: ONE ffmpeg command producing the same output with the same encoder
  settings (libx264 veryfast crf 23, 2 s closed GOP, AAC 160k, faststart);
* first render (empty cache) / reference          -- target <= 1.10
* re-render after replacing one clip / first       -- target <= 0.40
* unchanged re-render (cache hit), seconds         -- target <= 0.5
  (a hit re-hashes the cached output to verify it: the SHA-256 speed for a 1 GB file
  is printed too, so the cost of a hit on a bigger render can be read off)

and for the same project opened by a title card, with a 1 s fade between every item:

* the reference: ONE ffmpeg command with an xfade / acrossfade chain and drawtext, the
  same encoder settings;
* first render (empty cache) / reference          -- target <= 1.15
* re-render after changing the title's text / first -- target <= 0.30

Run: .venv/bin/python bench/bench_render.py [--keep DIR] [--rounds N] [--only cuts|fades]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.render.engine import (
    RenderSettings,
    TimelineItem,
    TitleCard,
    Transition,
    render_timeline,
    title_item,
)
from rendercli.render.presets import PRESETS, audio_encoder_options, video_encoder_options
from rendercli.render.text import DEFAULT_FONT, TITLE_SIZES, font_metrics, layout_text
from rendercli.storage import CHUNK_SIZE, file_sha256
from tests.media_factory import make_image, make_video

CLIP_SECONDS = 10.0
IMAGE_SECONDS = 3.0
TITLE_SECONDS = 3.0
FADE_SECONDS = 1.0
TITLE_BACKGROUND = "#1d3557"
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


def _encoder_args() -> list[str]:
    args = []
    venc = video_encoder_options("mp4", SETTINGS.quality, SETTINGS.fps)
    aenc = audio_encoder_options("mp4", SETTINGS.quality)
    for key, value in {**venc, **aenc}.items():
        args += [f"-{key}", str(value)]
    return args


def fades_items(clips: list[Path], image: Path, title: str) -> list[TimelineItem]:
    """Title card, four clips, one still, a fade between every two."""
    fade = Transition("fade", FADE_SECONDS)
    card = TitleCard(title, background=TITLE_BACKGROUND, size="large")
    items = [title_item(card, TITLE_SECONDS, transition=fade)]
    items += [replace(_item(c, "video", CLIP_SECONDS), transition=fade) for c in clips]
    items.append(_item(image, "image", IMAGE_SECONDS))
    return items


def fades_reference_command(clips: list[Path], image: Path, title: str, root: Path,
                            out: Path) -> list[str]:
    """The hand-written single command for the fades project: xfade and acrossfade
    chains, the title drawn by drawtext from a file, same encoder settings."""
    w, h = PRESETS[SETTINGS.preset]
    fps = SETTINGS.fps
    fit = (f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
           f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p")
    layout = layout_text(title, font_metrics(DEFAULT_FONT), (w, h), TITLE_SIZES["large"],
                         box=False)
    text_file = root / "title.txt"
    text_file.write_text(layout.text)
    args = [ffmpeg_path(), "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    graph = [f"color=c=0x{TITLE_BACKGROUND[1:]}:s={w}x{h}:r={fps},format=yuv420p,"
             f"drawtext=fontfile={DEFAULT_FONT}:textfile={text_file}:expansion=none:"
             f"fontsize={layout.size}:fontcolor=white:line_spacing={layout.line_spacing}:"
             f"text_align=C:x=(w-text_w)/2:y=(h-text_h)/2,"
             f"trim=end_frame={int(TITLE_SECONDS * fps)}[v0]",
             f"anullsrc=r=48000:cl=stereo,atrim=end_sample={int(TITLE_SECONDS * 48000)}[a0]"]
    for i, clip in enumerate(clips, 1):
        args += ["-t", str(CLIP_SECONDS), "-i", str(clip)]
        graph.append(f"[{i - 1}:v]fps={fps},{fit},trim=end_frame={int(CLIP_SECONDS * fps)},"
                     f"setpts=PTS-STARTPTS[v{i}]")
        graph.append(f"[{i - 1}:a]aresample=48000,aformat=channel_layouts=stereo,"
                     f"apad=whole_len={int(CLIP_SECONDS * 48000)},"
                     f"atrim=end_sample={int(CLIP_SECONDS * 48000)}[a{i}]")
    n = len(clips) + 1
    args += ["-i", str(image)]
    graph.append(f"[{n - 1}:v]format=rgba,premultiply=inplace=1,{fit},loop=loop=-1:size=1,"
                 f"settb=1/{fps},setpts=N,fps={fps},trim=end_frame={int(IMAGE_SECONDS * fps)}"
                 f"[v{n}]")
    graph.append(f"anullsrc=r=48000:cl=stereo,atrim=end_sample={int(IMAGE_SECONDS * 48000)}"
                 f"[a{n}]")
    lengths = [TITLE_SECONDS] + [CLIP_SECONDS] * len(clips) + [IMAGE_SECONDS]
    video, audio, elapsed = "v0", "a0", lengths[0]
    for k in range(1, n + 1):
        offset = elapsed - FADE_SECONDS
        graph.append(f"[{video}][v{k}]xfade=transition=fade:duration={FADE_SECONDS}:"
                     f"offset={offset}[x{k}]")
        graph.append(f"[{audio}][a{k}]acrossfade=d={FADE_SECONDS}:c1=tri:c2=tri[y{k}]")
        video, audio = f"x{k}", f"y{k}"
        elapsed = offset + lengths[k]
    args += ["-filter_complex", ";".join(graph), "-map", f"[{video}]", "-map", f"[{audio}]",
             *_encoder_args(), "-movflags", "+faststart", str(out)]
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


def bench_cuts(root: Path, rounds: int, clips: list[Path], image: Path,
               replacement: Path) -> None:
    items = [_item(c, "video", CLIP_SECONDS) for c in clips]
    items.append(_item(image, "image", IMAGE_SECONDS))
    changed = list(items)
    changed[1] = _item(replacement, "video", CLIP_SECONDS)

    times: dict[str, list[float]] = {"ref": [], "first": [], "incr": [], "hit": []}
    for n in range(rounds):
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
          f"(target <= 0.5 s; verifies {hit.size / 1e6:.1f} MB of output by SHA-256)")


def hash_speed(root: Path, megabytes: int) -> float:
    """MB/s of storage.file_sha256 (the cache check) on a ``megabytes`` file in the page
    cache: best of three."""
    path = root / "hash-test.bin"
    block = os.urandom(CHUNK_SIZE)
    with path.open("wb") as fh:
        for _ in range(megabytes):
            fh.write(block)
    file_sha256(path)  # warm the page cache
    best = min(timed(lambda: file_sha256(path))[0] for _ in range(3))
    path.unlink()
    return megabytes * CHUNK_SIZE / 1e6 / best


def bench_fades(root: Path, rounds: int, clips: list[Path], image: Path) -> None:
    items = fades_items(clips, image, "A Day at the Lake")
    changed = fades_items(clips, image, "A Day by the Sea")
    times: dict[str, list[float]] = {"ref": [], "first": [], "title": []}
    for n in range(rounds):
        storage = root / f"fades{n}"
        ref, _ = timed(lambda: subprocess.run(fades_reference_command(
            clips, image, "A Day at the Lake", root, root / "fades-reference.mp4"),
            check=True), "fades-ref")
        first_t, first = timed(lambda s=storage: render_timeline(items, SETTINGS,
                                                                 storage_dir=s), "fades-first")
        title_t, title = timed(lambda s=storage: render_timeline(changed, SETTINGS,
                                                                 storage_dir=s))
        # six bodies and five transitions; the new title: its body and its fade
        assert not first.cache_hit and len(first.segments_encoded) == 11
        assert len(title.segments_encoded) == 2, title.segments_encoded
        assert first.frames == int((TITLE_SECONDS + 4 * CLIP_SECONDS + IMAGE_SECONDS
                                    - 5 * FADE_SECONDS) * SETTINGS.fps)
        for key, value in zip(times, (ref, first_t, title_t), strict=True):
            times[key].append(value)
        print(f"round {n + 1}: xfade reference {ref:.2f} s, first {first_t:.2f} s, "
              f"title changed {title_t:.2f} s", flush=True)
    ref, first_t, title_t = (min(v) for v in times.values())
    print(f"reference (one command, xfade chain): {ref:7.2f} s")
    print(f"engine, first render with fades:      {first_t:7.2f} s   "
          f"ratio {first_t / ref:5.2f}  (target <= 1.15)")
    print(f"engine, one title changed:            {title_t:7.2f} s   "
          f"ratio {title_t / first_t:5.2f}  (target <= 0.30 of first)")
    cpu_ref, cpu_first = min(CPU["fades-ref"]), min(CPU["fades-first"])
    print(f"CPU seconds (user+sys): reference {cpu_ref:.1f}, first render {cpu_first:.1f} "
          f"(ratio {cpu_first / cpu_ref:.2f}; load-independent)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measure everything this many times, interleaved; report the "
                             "fastest of each (the machine may be shared)")
    parser.add_argument("--only", choices=("cuts", "fades"), help="run one benchmark only")
    parser.add_argument("--hash-mb", type=int, default=1024,
                        help="size of the file whose SHA-256 speed is measured (0: skip)")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rendercli-bench-") as tmp:
        root = ns.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        print("generating the reference project ...", flush=True)
        clips, image, replacement = make_project(root)
        print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
        if ns.only != "fades":
            bench_cuts(root, ns.rounds, clips, image, replacement)
        if ns.only != "cuts":
            bench_fades(root, ns.rounds, clips, image)
        if ns.hash_mb:
            speed = hash_speed(root, ns.hash_mb)
            print(f"SHA-256, {ns.hash_mb} MiB file in the page cache: {speed:7.0f} MB/s "
                  f"({ns.hash_mb * CHUNK_SIZE / 1e6 / speed:.2f} s: a cache hit on a render "
                  f"that size)")
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
