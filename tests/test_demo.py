"""`rendercli demo`: the README's main job, as a real process with nothing set up."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import av
import pytest

from tests.ffmpegs import bundled_ffmpeg
from tests.terminal import rendercli_executable

pytestmark = pytest.mark.slow

FPS = 30
# The demo's timeline (rendercli.services.demo.show_off), in seconds of the output: the
# title 0-2 crossfades (0.5 s) into the first clip 1.5-5.5, which crossfades (1 s) into
# the zooming still 4.5-7.5, which fades through black (0.5 s) into the last clip 7-10.
TITLE_RGB = (0x26, 0x46, 0x53)
MUSIC_ONLY = "bandpass=f=220:width_type=h:w=30"  # the music's 220 Hz, not the clips' tones


SMALL = (160, 90)  # frames are compared scaled down (same 16:9 shape)


def frames_at(path: Path, seconds: list[float]) -> dict[float, bytes]:
    """Those frames, as packed RGB bytes at SMALL size."""
    wanted = {round(s * FPS): s for s in seconds}
    found: dict[float, bytes] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                small = frame.reformat(width=SMALL[0], height=SMALL[1], format="rgb24")
                plane, row = small.planes[0], SMALL[0] * 3
                data = bytes(plane)
                found[wanted[index]] = b"".join(
                    data[y * plane.line_size:y * plane.line_size + row] for y in range(SMALL[1]))
    return found


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two frames' channel values (0-255)."""
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def music_level(path: Path, start: float, end: float) -> float:
    """Mean level (dB) of the music alone (a narrow band around its 220 Hz) in a span."""
    graph = f"atrim={start}:{end},pan=mono|c0=c0,{f'{MUSIC_ONLY},' * 3}volumedetect"
    result = subprocess.run([bundled_ffmpeg(), "-nostats", "-i", str(path), "-vn", "-af", graph,
                             "-f", "null", "-"], capture_output=True, text=True, check=True)
    return float(re.search(r"mean_volume: (-?[\d.]+) dB", result.stderr).group(1))


def check_shows_off(path: Path) -> None:
    """Title colour, a crossfade, a zoom and ducked music, on the decoded output."""
    frames = frames_at(path, [1.0, 1.4, 1.75, 2.1, 5.6, 6.9])
    title = frames[1.0]
    corner = [title[(y * SMALL[0] + x) * 3:(y * SMALL[0] + x) * 3 + 3]
              for y in range(8) for x in range(8)]
    for channel, want in enumerate(TITLE_RGB):  # the title card's background
        assert abs(sum(p[channel] for p in corner) / len(corner) - want) < 8, corner[0]
    # Mid-crossfade, the frame is neither the pure title nor the pure clip.
    for pure in (1.4, 2.1):
        assert difference(frames[1.75], frames[pure]) > 10, pure
    # The still zooms: two of its frames differ (a still without motion would not).
    assert difference(frames[5.6], frames[6.9]) > 2
    # The music plays under the clips, ducked: quieter than over the title and still.
    alone, under_clip, alone_again = (music_level(path, 0.6, 1.4), music_level(path, 2.5, 4.0),
                                      music_level(path, 5.8, 6.8))
    assert -40 < alone < -20 and -40 < alone_again < -20, (alone, alone_again)
    assert -70 < under_clip < alone - 6, (under_clip, alone)  # audible, but ducked


def test_demo_renders_twice_with_no_setup(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERCLI_")}
    env["RENDERCLI_DATA_DIR"] = str(tmp_path / "fresh")
    env["RENDERCLI_CONFIG_DIR"] = str(tmp_path / "fresh-config")
    out = tmp_path / "demo.mp4"

    first = subprocess.run([rendercli_executable(), "demo"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Rendered demo in ")
    rendered = Path(first.stdout.strip().rsplit(": ", 1)[1])
    with av.open(str(rendered)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        assert container.streams.audio[0].codec_context.sample_rate == 48000
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 300  # 2 s title + 4 s + 3 s still + 3 s, less 2 s of transitions
    check_shows_off(rendered)

    second = subprocess.run([rendercli_executable(), "demo", "--output", str(out)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "(cache hit)" in second.stdout
    # The embedded default needs no account: the next step it names is a project.
    assert "no account needed here: rendercli project create" in second.stderr
    assert "register" not in second.stderr
    assert out.read_bytes() == rendered.read_bytes()  # the first video is still there
    # The demo session works for exploring, through the normal auth path.
    token = next(line.split("=", 1)[1].split()[0] for line in second.stderr.splitlines()
                 if "RENDERCLI_TOKEN=" in line)
    listed = subprocess.run([rendercli_executable(), "asset", "list", "demo"], text=True,
                            capture_output=True, env={**env, "RENDERCLI_TOKEN": token})
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 5
    kinds = [line.split("\t")[2] for line in listed.stdout.splitlines()]
    assert kinds == ["title", "video", "image", "video", "audio"]
    assert "1 text" in listed.stdout and "zoom-in" in listed.stdout  # the lower third
    assert "ducked" in listed.stdout and "crossfade" in listed.stdout
