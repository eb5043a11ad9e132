"""One colour pipeline: sources of every colour kind (JPEG, PNG, a full-range clip, an
untagged BT.601 SD clip, a 10-bit clip) end up in segments with identical colour tags,
decode the same from the start as after a seek, and keep black black and known
patches at their RGB values. Run with every available ffmpeg (bundled, and Debian's)."""

from __future__ import annotations

import hashlib
import math
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from rendercli.errors import InvalidInput
from rendercli.media.colour import SourceColour
from rendercli.media.probe import probe
from rendercli.render.cache import RenderCache
from rendercli.render.engine import RenderSettings, TimelineItem, render_timeline
from tests.ffmpegs import bundled_ffmpeg
from tests.media_factory import PATCHES, make_patch_png, make_patch_source, run_ffmpeg

pytestmark = pytest.mark.usefixtures("engine_ffmpeg")

SETTINGS = RenderSettings(preset="480p", fmt="mp4", fps=10, quality="draft")
W, H = 854, 480
SOURCES = (("jpeg", "jpg", "image"), ("png", "png", "image"), ("full", "mp4", "video"),
           ("sd601", "mp4", "video"), ("tenbit", "mp4", "video"))
# 320x240 fitted into 854x480: 640x480 at x = 107.
SPOTS = {"grey": (267, 120), "orange": (587, 120), "black": (427, 400),
         "pillarbox": (30, 240)}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    d = tmp_path_factory.mktemp("colour")
    png = make_patch_png(d / "patch.png")
    out = {"png": (png, "image")}
    for name, ext, kind in SOURCES:
        if name != "png":
            out[name] = (make_patch_source(d / f"{name}.{ext}", png, kind=name), kind)
    return out


def _item(path: Path, kind: str) -> TimelineItem:
    return TimelineItem(path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                        kind=kind, duration=1.0, trim_start=0.0,  # type: ignore[arg-type]
                        has_audio=False, width=320, height=240, rotation=0)


def _tags(path: Path) -> tuple:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        header = (ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc)
        frame = next(container.decode(stream))
        return (frame.format.name, header,
                (frame.color_range, frame.colorspace, frame.color_primaries, frame.color_trc))


def _rgb_frames(*args: str, count: int) -> list[bytes]:
    """Frames decoded by the bundled ffmpeg (a current player) to RGB, as it shows them."""
    proc = subprocess.run([bundled_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error",
                           *args, "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
                          capture_output=True, check=True)
    size = W * H * 3
    assert len(proc.stdout) == size * count, proc.stderr.decode()
    return [proc.stdout[n * size:(n + 1) * size] for n in range(count)]


def _psnr(a: bytes, b: bytes) -> float:
    mse = sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) / len(a)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _at(frame: bytes, spot: tuple[int, int]) -> tuple[int, int, int]:
    """The mean RGB of the 5x5 pixels around ``spot``."""
    x0, y0 = spot
    sums = [0, 0, 0]
    for y in range(y0 - 2, y0 + 3):
        for x in range(x0 - 2, x0 + 3):
            at = (y * W + x) * 3
            for c in range(3):
                sums[c] += frame[at + c]
    return tuple(round(s / 25) for s in sums)  # type: ignore[return-value]


def _close(got: tuple[int, ...], want: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(g - w) <= tolerance for g, w in zip(got, want, strict=True))


def test_every_source_kind_lands_in_one_colour_space(sources, tmp_path: Path) -> None:
    items = [_item(*sources[name]) for name, _ext, _kind in SOURCES]
    storage = tmp_path / "storage"
    result = render_timeline(items, SETTINGS, storage_dir=storage)
    assert result.frames == 50

    # Every segment (and the output) is 8-bit 4:2:0, BT.709, limited range, tagged.
    cache = RenderCache(storage)
    segments = [cache.segment_path(k, "mp4") for k in result.segments_encoded]
    assert len(segments) == 5
    expected = ("yuv420p", (1, 1, 1, 1), (1, 1, 1, 1))  # tv, bt709, bt709, bt709
    tags = {seg.name: _tags(seg) for seg in segments}
    assert set(tags.values()) == {expected}, tags
    assert _tags(result.path) == expected

    # Decoding from the start shows every segment as a seek straight into it does.
    middles = [10 * n + 5 for n in range(5)]
    select = "+".join(f"eq(n\\,{n})" for n in middles)
    sequential = _rgb_frames("-i", str(result.path), "-vf", f"select={select}",
                             "-fps_mode", "passthrough", count=5)
    for n, (frame, name) in enumerate(zip(middles, (s[0] for s in SOURCES), strict=True)):
        seeked = _rgb_frames("-ss", f"{(frame - 0.5) / SETTINGS.fps:.3f}", "-i",
                             str(result.path), "-frames:v", "1", count=1)[0]
        psnr = _psnr(sequential[n], seeked)
        assert psnr >= 50, f"{name}: sequential and seek decodes differ ({psnr:.1f} dB)"

        # Black stays black (the source's and the pillarbox), patches keep their colour.
        for picture in (sequential[n], seeked):
            for spot in ("black", "pillarbox"):
                got = _at(picture, SPOTS[spot])
                assert _close(got, (0, 0, 0), 2), f"{name}: {spot} is {got}"
            for patch, want in PATCHES.items():  # the sources themselves are off by <= 2
                got = _at(picture, SPOTS[patch])
                assert _close(got, want, 5), f"{name}: {patch} {got} != {want}"


def test_untagged_sources_follow_the_usual_defaults() -> None:
    untagged = SourceColour()
    sd = untagged.conversion("yuv420p", 480)
    hd = untagged.conversion("yuv420p", 720)
    jpeg = untagged.conversion("yuvj420p", 1080)
    rgb = untagged.conversion("rgb24", 1080)
    assert (sd.rgb, sd.range, sd.matrix) == (False, "tv", "bt601")
    assert (hd.rgb, hd.range, hd.matrix) == (False, "tv", "bt709")
    assert (jpeg.range, jpeg.matrix) == ("pc", "bt601")
    assert rgb.rgb
    webp = untagged.conversion("yuv420p", 1080, still=True)  # lossy WebP is BT.601
    assert (webp.range, webp.matrix) == ("tv", "bt601")
    tagged = SourceColour(range="pc", matrix="smpte170m").conversion("yuv420p", 1080)
    assert (tagged.range, tagged.matrix) == ("pc", "bt601")


def test_colour_tags_are_allow_listed() -> None:
    class Frame:
        color_range, colorspace, color_primaries, color_trc = 7, 99, "bt709", -1

    assert SourceColour.from_frame(Frame()) == SourceColour()
    assert SourceColour.from_dict({"range": "tv", "matrix": "bt709; rm -rf",
                                   "primaries": "bt709", "transfer": "bt709"}) is None
    assert SourceColour.from_dict({"range": "tv", "matrix": "bt709", "primaries": "bt709",
                                   "transfer": "bt709"}) == SourceColour("tv", "bt709",
                                                                         "bt709", "bt709")


def test_hdr_sources_are_refused_at_probe_and_before_rendering(sources, tmp_path: Path) -> None:
    hdr = make_patch_source(tmp_path / "hdr.mp4", sources["png"][0], kind="hdr")
    with pytest.raises(InvalidInput, match=r"hdr\.mp4: HDR video \(PQ"):
        probe(hdr, display_name="hdr.mp4", max_duration=60, max_dimension=4096)
    storage = tmp_path / "storage"
    with pytest.raises(InvalidInput, match=r"HDR video .* convert it to SDR"):
        render_timeline([_item(hdr, "video")], SETTINGS, storage_dir=storage)
    assert not list(storage.rglob("*.mp4"))  # nothing was encoded


def test_a_sources_colour_is_remembered_by_content_and_a_tampered_memo_is_not_believed(
        tmp_path: Path) -> None:
    """An unchanged render (a cache hit) reads each source's conversion from the memo
    under its content hash instead of opening the file; a memo of another shape is
    ignored and the file probed again."""
    from rendercli.render import colour

    jpeg = tmp_path / "photo.jpg"
    run_ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=64x48", "-frames:v", "1", str(jpeg))
    sha = "ab" * 32
    item = replace(_item(jpeg, "image"), sha256=sha)
    colour._probed.cache_clear()
    first = colour.source_conversion(item)
    assert first == colour.Conversion(rgb=False, range="pc", matrix="bt601")
    memo = colour._memo_file(sha, True)
    assert memo is not None and memo.is_file()
    # Remembered: the file itself is no longer needed.
    jpeg.unlink()
    colour._probed.cache_clear()
    assert colour.source_conversion(item) == first
    # Tampered: not believed (the file is gone, so the defaults for a still apply).
    memo.write_text('{"rgb": false, "range": "pc", "matrix": "bt601; rm -rf /", '
                    '"refusal": null}')
    colour._probed.cache_clear()
    assert colour._remembered(memo) is None
