"""What an editor expects to see and hear: pictures that fill the frame when asked (fit
contain / cover / blur, motion without bars), a cross-dissolve that blends, and a
loudness target that the output meets.

Real ffmpeg renders of tiny generated media, checked on decoded pixels and with
ffmpeg's ebur128 on the decoded output.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from rendercli.errors import InvalidInput
from rendercli.render.engine import render_timeline
from rendercli.render.timeline import (
    FITS,
    TRANSITIONS,
    Transition,
    parse_fit,
    parse_transition,
    validate_timeline,
)
from tests.media_factory import make_color_video, run_ffmpeg
from tests.test_render_engine import FAST, item, pixels, probe


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("looks")
    red = d / "red.png"  # 3:2: pillarboxed in a 16:9 frame
    run_ffmpeg("-f", "lavfi", "-i", "color=c=red:s=300x200", "-frames:v", "1", str(red))
    return {
        "red": red,
        "red_clip": make_color_video(d / "red.mp4", colors=("red",), seconds_each=1.0),
        "blue_clip": make_color_video(d / "blue.mp4", colors=("blue",), seconds_each=1.0),
        "wide": make_color_video(d / "wide.mp4", colors=("lime",), seconds_each=1.0,
                                 size=(640, 360), audio=False),
    }


@pytest.fixture()
def storage(tmp_path: Path) -> Path:
    return tmp_path / "storage"


def still(path: Path, **changes: object):  # type: ignore[no-untyped-def]
    return replace(item(path, "image", 1.0, size=(300, 200)), **changes)


def edge_reds(path: Path, index: int) -> list[int]:
    """The lowest red value down each edge column and along each edge row of a frame
    (two pixels deep): a black bar anywhere on an edge shows as a value near 0."""
    w, h, px = pixels(path, index)
    columns = [min(px(x, y)[0] for y in range(0, h, 5)) for x in (0, 1, w - 2, w - 1)]
    rows = [min(px(x, y)[0] for x in range(0, w, 5)) for y in (0, 1, h - 2, h - 1)]
    return columns + rows


# --------------------------------------------------------------------------- fit


def test_fit_values_are_an_allow_list(media: dict[str, Path]) -> None:
    assert FITS == ("contain", "cover", "blur")
    assert parse_fit("cover") == "cover" and parse_fit("contain-blur") == "blur"
    for bad in ("fill", "COVER", "", "cover;rm", "stretch"):
        with pytest.raises(InvalidInput, match="unknown fit"):
            parse_fit(bad)
    with pytest.raises(InvalidInput, match="fit"):
        validate_timeline([still(media["red"], fit="stretch")])


@pytest.mark.usefixtures("engine_ffmpeg")  # bundled and packaged ffmpeg
def test_cover_fills_a_16_9_frame_with_a_3_2_picture(media: dict[str, Path],
                                                   storage: Path) -> None:
    contain = render_timeline([still(media["red"])], FAST, storage_dir=storage)
    w, h, px = pixels(contain.path, 0)
    assert (w, h) == (854, 480)
    assert px(0, h // 2) == (0, 0, 0) and px(w - 1, h // 2) == (0, 0, 0)  # pillarbox
    cover = render_timeline([still(media["red"], fit="cover")], FAST, storage_dir=storage)
    assert cover.render_key != contain.render_key
    assert min(edge_reds(cover.path, 0)) > 200  # every edge pixel is red: no bars
    w, h, px = pixels(cover.path, 0)
    assert px(0, h // 2)[1:] < (40, 40) and px(w - 1, h // 2)[1:] < (40, 40)


@pytest.mark.usefixtures("engine_ffmpeg")  # bundled and packaged ffmpeg
def test_blur_fills_the_bars_with_the_picture_not_black(media: dict[str, Path],
                                                       storage: Path) -> None:
    contain = render_timeline([still(media["red"])], FAST, storage_dir=storage)
    blur = render_timeline([still(media["red"], fit="blur")],
                           FAST, storage_dir=storage)
    _w, h, contain_px = pixels(contain.path, 0)
    w, h, blur_px = pixels(blur.path, 0)
    for x in (0, 20, w - 21, w - 1):  # in the bars
        assert contain_px(x, h // 2) == (0, 0, 0)
        r, g, b = blur_px(x, h // 2)
        assert r > 150 and g < 60 and b < 60, (x, (r, g, b))
    # the picture itself (blur scales in RGB and converts once after the overlay: +-2)
    assert all(abs(a - b) <= 2 for a, b in zip(blur_px(w // 2, h // 2),
                                               contain_px(w // 2, h // 2), strict=True))


@pytest.mark.usefixtures("engine_ffmpeg")  # bundled and packaged ffmpeg
@pytest.mark.parametrize("motion", ["zoom-in", "zoom-out", "pan-left", "pan-right"])
def test_motion_covers_the_frame_on_every_frame(media: dict[str, Path], storage: Path,
                                                motion: str) -> None:
    """Whatever the fit, a moving still never shows a bar: first, middle, last frame."""
    result = render_timeline([still(media["red"], motion=motion, fit="contain")], FAST,
                             storage_dir=storage)
    frames = probe(result.path)["video"]["frames"]
    assert frames == 10
    for index in (0, frames // 2, frames - 1):
        assert min(edge_reds(result.path, index)) > 200, (motion, index)


@pytest.mark.usefixtures("engine_ffmpeg")  # bundled and packaged ffmpeg
@pytest.mark.parametrize("fit", ["cover", "blur"])
def test_a_16_9_clip_fills_the_vertical_preset(media: dict[str, Path], storage: Path,
                                               fit: str) -> None:
    vertical = replace(FAST, preset="vertical")
    contain = render_timeline([item(media["wide"], size=(640, 360))], vertical,
                              storage_dir=storage)
    w, h, px = pixels(contain.path, 3)
    assert (w, h) == (1080, 1920) and px(w // 2, 0) == (0, 0, 0)  # letterboxed
    filled = render_timeline([replace(item(media["wide"], size=(640, 360)), fit=fit)],
                             vertical, storage_dir=storage)
    assert probe(filled.path)["video"]["frames"] == 10
    w, h, px = pixels(filled.path, 3)
    for y in (0, 1, 100, h - 101, h - 1):
        r, g, b = px(w // 2, y)
        assert g > 150 and r < 60 and b < 60, (fit, y, (r, g, b))
    if fit == "cover":
        assert min(min(px(x, y)[1] for y in range(0, h, 9)) for x in (0, w - 1)) > 150


# --------------------------------------------------------------------------- crossfade


@pytest.mark.usefixtures("engine_ffmpeg")  # bundled and packaged ffmpeg
def test_crossfade_is_a_uniform_blend_and_dissolve_is_noise(media: dict[str, Path],
                                                           storage: Path) -> None:
    assert "crossfade" in TRANSITIONS and "dissolve" in TRANSITIONS
    assert parse_transition("crossfade:0.5") == Transition("crossfade", 0.5)

    def middle(kind: str) -> tuple[float, float, float, float]:
        items = [replace(item(media["red_clip"]), fit="cover",
                         transition=Transition(kind, 0.6)),
                 replace(item(media["blue_clip"]), fit="cover")]
        result = render_timeline(items, FAST, storage_dir=storage)
        assert probe(result.path)["video"]["frames"] == 20 - 6
        w, h, px = pixels(result.path, 4 + 3)  # the transition's middle frame
        values = [px(x, y) for x in range(0, w, 7) for y in range(0, h, 7)]
        reds, blues = [v[0] for v in values], [v[2] for v in values]
        return (statistics.mean(reds), statistics.pstdev(reds), statistics.mean(blues),
                statistics.pstdev(blues))

    red, red_spread, blue, blue_spread = middle("crossfade")
    assert 100 < red < 155 and 100 < blue < 155  # about half of each
    assert red_spread < 3 and blue_spread < 3  # the same blend everywhere
    _red, red_spread, _blue, blue_spread = middle("dissolve")
    assert red_spread > 30 and blue_spread > 30  # grain: pixels either red or blue


# --------------------------------------------------------------------------- loudness


def speechlike(path: Path, seconds: float) -> Path:
    """A clip whose sound is speech-like: bursts of broadband noise at syllable rate
    (bright, so an encoder's low-pass takes loudness off it) over a quiet tone."""
    noise = (f"anoisesrc=c=white:a=0.5:d={seconds}:r=44100,"
             "volume='if(lt(mod(t,0.5),0.15),1,0.05)':eval=frame")
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}",
               "-f", "lavfi", "-i", noise,
               "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=44100:duration={seconds}",
               "-filter_complex", "[1:a][2:a]amix=inputs=2:normalize=0[a]",
               "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
               "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", "-ac", "2", "-shortest",
               str(path))
    return path


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("voices")
    return {"speech": speechlike(d / "speech.mp4", 6.0),
            "music": make_audio_noise(d / "bed.wav", 12.0)}


def make_audio_noise(path: Path, seconds: float) -> Path:
    """A music-like bed: a tone with pink noise under it."""
    run_ffmpeg("-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}",
               "-f", "lavfi", "-i", f"anoisesrc=c=pink:a=0.1:d={seconds}:r=48000",
               "-filter_complex", "[0:a][1:a]amix=inputs=2:normalize=0", "-ac", "2",
               str(path))
    return path


@pytest.mark.usefixtures("engine_ffmpeg")  # bundled and packaged ffmpeg
@pytest.mark.slow
@pytest.mark.parametrize("seconds", [3, 12])
@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_loudness_target_is_met_on_the_output(voices: dict[str, Path], storage: Path,
                                              seconds: int, target: float) -> None:
    """ebur128 on the decoded output reads the target within 0.5 LU, and the result
    reports that same measurement (old code: a single linear gain before the encoder,
    which took up to 0.6 LU off this bright sound)."""
    from tests.test_render_effects import integrated_loudness

    half = seconds / 2
    items = [item(voices["speech"], duration=half), item(voices["speech"], duration=half)]
    if seconds > 3:
        items.append(item(voices["music"], "audio", seconds))
    result = render_timeline(items, replace(FAST, loudness=target), storage_dir=storage)
    measured = integrated_loudness(result.path)
    assert abs(measured - target) <= 0.5, (seconds, target, measured, result.loudness)
    assert result.loudness is not None
    assert result.loudness["output_i"] == pytest.approx(measured, abs=0.11)
    info = probe(result.path)
    assert info["video"]["frames"] == seconds * 10
    assert abs(info["audio"]["end"] - seconds) < 0.1 and info["audio"]["gaps"] == 0


def test_ebur128_summary_is_parsed() -> None:
    from rendercli.render.soundtrack import parse_ebur128

    stderr = ("[Parsed_ebur128_0 @ 0x1] t: 1 M: -20 S: -20 I: -19.0 LUFS\n"
              "[Parsed_ebur128_0 @ 0x55d] Summary:\n\n  Integrated loudness:\n"
              "    I:         -14.3 LUFS\n    Threshold: -24.5 LUFS\n\n  Loudness range:\n"
              "    LRA:         2.1 LU\n    Threshold: -34.0 LUFS\n\n  True peak:\n"
              "    Peak:       -1.7 dBFS\n")
    assert parse_ebur128(stderr) == {"i": -14.3, "lra": 2.1, "tp": -1.7}
    silent = stderr.replace("-14.3", "-70.0").replace("-1.7 dBFS", "-inf dBFS")
    assert parse_ebur128(silent)["i"] == -70.0
    with pytest.raises(ValueError, match="no loudness"):
        parse_ebur128("Summary: nothing")


# --------------------------------------------------------------------------- the CLI


def test_fit_through_the_cli_and_spec_files(alice, media: dict[str, Path],  # type: ignore[no-untyped-def]
                                            tmp_path: Path) -> None:
    import json

    import yaml

    def listed(project: str) -> dict[str, dict]:
        found = json.loads(alice.ok("asset", "list", project, "--json").stdout)["assets"]
        return {a["display_name"]: a for a in found}

    created = json.loads(alice.ok("project", "create", "reel", "--fit", "contain-blur",
                                  "--json").stdout)
    assert created["fit"] == "blur"
    alice.ok("asset", "add", "reel", str(media["red"]), "--fit", "cover")
    alice.ok("asset", "add", "reel", str(media["wide"]), str(media["blue_clip"]))
    items = listed("reel")
    assert items["red.png"]["fit"] == "cover" and items["wide.mp4"]["fit"] is None
    assert "fit cover" in alice.ok("asset", "list", "reel").stdout
    bad = alice("asset", "update", items["wide.mp4"]["id"], "--fit", "stretch")
    assert bad.exit_code == 2 and "unknown fit 'stretch'" in bad.stderr, bad.stderr
    assert alice("project", "fit", "reel", "fill").exit_code == 2
    alice.ok("asset", "update", items["blue.mp4"]["id"], "--fit", "contain")

    # The project's default reaches the render: the 16:9 clip fills a vertical frame.
    alice.ok("project", "fit", "reel", "cover")
    frame = tmp_path / "frame.png"
    alice.ok("render", "frame", "reel", "--at", "3.5", "--preset", "vertical", "-o", str(frame))
    w, h, px = pixels(frame, 0)
    assert (w, h) == (1080, 1920) and px(w // 2, 0)[1] > 150 and px(w // 2, h - 1)[1] > 150
    alice.ok("asset", "update", items["wide.mp4"]["id"], "--fit", "contain")
    alice.ok("render", "frame", "reel", "--at", "3.5", "--preset", "vertical", "-o", str(frame),
             "--force")
    assert pixels(frame, 0)[2](w // 2, 0) == (0, 0, 0)  # its own fit wins: letterboxed
    alice.ok("asset", "update", items["wide.mp4"]["id"], "--fit", "default")
    assert listed("reel")["wide.mp4"]["fit"] is None

    # Exported: the project's default at the top, an item's own fit where it differs.
    spec = tmp_path / "out" / "reel.yaml"
    spec.parent.mkdir()
    alice.ok("project", "export", "reel", "-o", str(spec))
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    assert data["fit"] == "cover"
    assert [entry.get("fit") for entry in data["timeline"]] == [None, None, "contain"]
    assert alice.ok("apply", str(spec), "--project", "reel").stdout.startswith("no changes")
    alice.ok("apply", str(spec), "--project", "copy")
    # a new project contains by default: its items say cover where they need it
    assert [a["fit"] for a in listed("copy").values()] == ["cover", "cover", None]
    data["timeline"][0]["fit"] = "fill"
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    invalid = alice("spec", "validate", str(spec))
    assert invalid.exit_code == 2 and "fill" in invalid.stdout + invalid.stderr


@pytest.mark.slow
def test_render_submit_prints_the_measured_loudness(alice, voices: dict[str, Path]  # type: ignore[no-untyped-def]
                                                    ) -> None:
    alice.ok("project", "create", "talk")
    alice.ok("asset", "add", "talk", str(voices["speech"]), "--trim-end", "3")
    result = alice.ok("render", "submit", "talk", "--preset", "480p", "--fps", "10",
                      "--quality", "draft", "--loudness", "-23")
    line = next(x for x in result.stdout.splitlines() if x.startswith("Loudness: "))
    measured = float(line.split()[1])
    assert abs(measured + 23) <= 0.5 and line.endswith("LUFS (target -23)"), line
    assert "warning" not in result.stderr


def test_a_loudness_miss_is_a_warning_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from rendercli.cli.renders import _warn_loudness

    _warn_loudness(SimpleNamespace(id="j1", loudness=-9.0, loudness_lufs=-9.7))
    err = capsys.readouterr().err
    assert err.startswith("warning: the output measures -9.7 LUFS, 0.7 LU below the -9 LUFS")
    _warn_loudness(SimpleNamespace(id="j1", loudness=-14.0, loudness_lufs=-14.4))
    _warn_loudness(SimpleNamespace(id="j1", loudness=None, loudness_lufs=None))
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_loudness_on_target_when_a_farm_splits_the_render(voices: dict[str, Path],
                                                          storage: Path) -> None:
    """The farm's pieces (segments, soundtrack, assemble) meet the target too, and the
    soundtrack waits in the cache with its measurement."""
    from rendercli.render.engine import (
        assemble,
        encode_segment,
        prepare_render,
        render_soundtrack,
    )
    from tests.test_render_effects import integrated_loudness

    items = [item(voices["speech"], duration=3.0), item(voices["music"], "audio", 3.0)]
    prepared = prepare_render(items, replace(FAST, loudness=-16.0), storage_dir=storage)
    for key, _segment in prepared.pending_segments():
        encode_segment(prepared, key)
    commands = render_soundtrack(prepared)
    assert commands and all(commands)  # steps that were not needed left no empty argv
    assert not prepared.soundtrack_pending()
    result = assemble(prepared, name="farm")
    measured = integrated_loudness(result.path)
    assert abs(measured + 16) <= 0.5
    assert result.loudness is not None
    assert result.loudness["output_i"] == pytest.approx(measured, abs=0.11)


def test_spec_files_take_crossfade_and_fit_and_suggest_them() -> None:
    from rendercli.specfile.loader import load_text
    from rendercli.specfile.problems import SpecInvalid

    good = ("version: 1\nfit: contain-blur\ntimeline:\n"
            "  - {media: a.mp4, transition: crossfade:0.5, fit: cover}\n  - media: b.png\n")
    spec = load_text(good, "s.yaml", base_dir=Path("/x")).spec
    assert spec.fit == "contain-blur" and spec.timeline[0].fit == "cover"
    assert spec.timeline[0].transition.kind == "crossfade"
    bad = ("version: 1\ntimeline:\n"
           "  - {media: a.mp4, transition: crosfade, fit: cuver}\n  - media: b.png\n")
    with pytest.raises(SpecInvalid) as caught:
        load_text(bad, "s.yaml", base_dir=Path("/x"))
    found = " ".join(str(p) for p in caught.value.problems)
    assert "did you mean 'crossfade'?" in found and "did you mean 'cover'?" in found, found


def test_a_fit_written_by_hand_is_refused(alice, database_url: str,  # type: ignore[no-untyped-def]
                                          media: dict[str, Path], tmp_path: Path) -> None:
    """Rows are untrusted: a fit no one could set through rendercli stops the render
    with one line, for an item's and for the project's."""
    from sqlalchemy import create_engine, text

    alice.ok("project", "create", "raw")
    alice.ok("asset", "add", "raw", str(media["red"]))
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE assets SET fit = 'x;y' WHERE display_name = 'red.png'"))
    frame = tmp_path / "f.png"
    bad = alice("render", "frame", "raw", "--at", "0.5", "-o", str(frame))
    assert bad.exit_code == 2 and "unknown fit 'x;y'" in bad.stderr, bad.stderr
    with engine.begin() as conn:
        conn.execute(text("UPDATE assets SET fit = NULL"))
        conn.execute(text("UPDATE projects SET fit = 'huge' WHERE name = 'raw'"))
    bad = alice("render", "submit", "raw", "--preset", "480p", "--fps", "10")
    assert bad.exit_code == 2 and "the project's fit 'huge'" in bad.stderr, bad.stderr
    engine.dispose()
