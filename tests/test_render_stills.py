"""One frame of a render and the storyboard sheet, drawn by the engine's own graph code.

Checked against real renders: the PNG of frame N must be the picture the video shows at
frame N (inside a transition, under text, on a moving still), up to encoding loss.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rendercli.errors import InvalidInput
from rendercli.render.engine import (
    SheetTile,
    frame_at,
    render_frame,
    render_storyboard,
    render_timeline,
)
from rendercli.render.timeline import (
    RenderSettings,
    TextOverlay,
    TitleCard,
    Transition,
    plan_timeline,
    title_item,
)
from tests.media_factory import make_audio, make_color_video, make_image
from tests.test_render_engine import item

# Every test runs with each available ffmpeg: the bundled one and the system's (Debian).
pytestmark = pytest.mark.usefixtures("engine_ffmpeg")

SETTINGS = RenderSettings(preset="480p", fmt="mp4", fps=10, quality="high")


def rgb_frames(path: Path) -> list[bytes]:
    """Every decoded frame of a file (video or PNG) as packed RGB bytes."""
    import av

    def packed(frame) -> bytes:  # type: ignore[no-untyped-def]
        plane = frame.reformat(format="rgb24").planes[0]
        data, stride, row = bytes(plane), plane.line_size, frame.width * 3
        return b"".join(data[y * stride:y * stride + row] for y in range(frame.height))

    with av.open(str(path)) as container:
        return [packed(f) for f in container.decode(video=0)]


def png_size(path: Path) -> tuple[int, int]:
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference per channel (0..255), sampled."""
    assert len(a) == len(b)
    step = 7
    return sum(abs(x - y) for x, y in zip(a[::step], b[::step], strict=True)) / len(a[::step])


@pytest.fixture(scope="module")
def timeline(tmp_path_factory: pytest.TempPathFactory) -> list:
    d = tmp_path_factory.mktemp("stills")
    red_blue = make_color_video(d / "rb.mp4", colors=("red", "blue"), seconds_each=1.0)
    still = make_image(d / "still.png")
    music = make_audio(d / "music.wav", duration=2.0)
    return [
        title_item(TitleCard("Opening", fade_in=0.4, style="outline"), 1.0,
                   transition=Transition("fade", 0.5)),
        # a clip with two texts over it (fading in, stacked), then a wipe into a moving still
        replace(item(red_blue, duration=2.0), texts=(
            TextOverlay("Under the title", start=0.2, fade_in=0.3),
            TextOverlay("Stacked above", start=0.3, style="shadow")),
                transition=Transition("wipeleft", 0.5)),
        replace(item(still, "image", 1.5), motion="zoom-in"),
        item(music, "audio", 2.0),
    ]


def test_a_frame_is_the_frame_the_render_shows(timeline: list, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    result = render_timeline(timeline, SETTINGS, storage_dir=storage)
    video = rgb_frames(result.path)
    plan = plan_timeline(timeline, SETTINGS.fps)
    assert len(video) == plan.total_frames == 35  # 10 + 20 + 15 - 5 - 5
    # the title's text fading in, in the fade (texts fading in there too), under the
    # texts, in the wipe, on the moving still, the last frame
    for frame in (2, 7, 9, 12, 27, 30, 34):
        out = tmp_path / f"frame-{frame}.png"
        shown = render_frame(timeline, SETTINGS, frame / SETTINGS.fps + 0.01, out,
                             storage_dir=storage)
        assert shown == frame
        assert png_size(out) == SETTINGS.size
        [picture] = rgb_frames(out)
        own = difference(picture, video[frame])
        # Within encoding loss of its own frame, and clearly nearer to it than to a
        # frame 3 away (the picture moves everywhere we look).
        others = [difference(picture, video[k]) for k in (frame - 3, frame + 3)
                  if 0 <= k < len(video)]
        assert own < 4.0, (frame, own)
        assert all(own < other / 2 for other in others), (frame, own, others)


def test_frame_at_finds_the_segment_and_refuses_times_outside(timeline: list) -> None:
    plan = plan_timeline(timeline, SETTINGS.fps)
    assert frame_at(plan, 0) == (0, 0, 0)
    frame, index, offset = frame_at(plan, 0.75)  # inside the title-to-clip fade
    assert frame == 7 and plan.segments[index].transition is not None and offset == 2
    assert frame_at(plan, plan.duration)[0] == plan.total_frames - 1  # the end: last frame
    for bad in (-0.1, plan.duration + 0.2, float("nan"), float("inf")):
        with pytest.raises(InvalidInput, match=r"^--at must be a number from 0 to 3\.5 "):
            frame_at(plan, bad)


def test_storyboard_has_one_captioned_tile_per_item(timeline: list, tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    tiles = [SheetTile(it, f"#{n}", f"item {n}") for n, it in enumerate(timeline, 1)]
    layout = render_storyboard(tiles, SETTINGS, out, storage_dir=tmp_path / "storage")
    assert (layout.columns, layout.rows) == (4, 1)
    width, height = png_size(out)
    assert (width, height) == layout.size
    tile_w, tile_h = layout.tile
    assert width == 4 * tile_w + 5 * layout.gap and height == tile_h + 2 * layout.gap
    [sheet] = rgb_frames(out)

    def mean(x0: int, y0: int, w: int, h: int) -> tuple[float, float, float]:
        sums = [0, 0, 0]
        for y in range(y0, y0 + h):
            row = sheet[(y * width + x0) * 3:(y * width + x0 + w) * 3]
            for c in range(3):
                sums[c] += sum(row[c::3])
        return tuple(s / (w * h) for s in sums)  # type: ignore[return-value]

    thumbs = [mean(layout.gap + n * (tile_w + layout.gap) + 20, layout.gap + 20,
                   tile_w - 40, layout.thumb[1] - 40) for n in range(4)]
    # title (black card, white text), blue half of the clip, the test pattern, music tile
    for a, b in ((0, 1), (0, 2), (1, 2), (1, 3), (2, 3)):
        assert sum(abs(x - y) for x, y in zip(thumbs[a], thumbs[b], strict=True)) > 30, thumbs
    assert thumbs[1][2] > 2 * thumbs[1][0]  # the clip's middle frame is its blue second
    # Captions are drawn: bright text pixels in every tile's label area.
    for n in range(4):
        x0 = layout.gap + n * (tile_w + layout.gap)
        label_top = layout.gap + layout.thumb[1]
        rows = [sheet[(y * width + x0) * 3:(y * width + x0 + tile_w) * 3]
                for y in range(label_top, label_top + tile_h - layout.thumb[1])]
        assert max(max(r) for r in rows) > 180, n
