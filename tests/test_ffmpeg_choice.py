"""Which ffmpeg rendercli runs: features detected once per binary (and remembered on
disk), the bundled binary preferred over a PATH one that lacks a feature, a binary that
cannot render refused before anything renders, and `doctor` saying which and why.

An ffmpeg lacking a feature is the bundled binary behind a small wrapper script that
reports an old version or hides a filter -- a real binary either way; Debian's packaged
5.1, when installed, must be complete."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from rendercli.errors import OperationFailed
from rendercli.media import ffmpeg_binary
from rendercli.render.engine import RenderSettings, render_timeline, title_item
from rendercli.render.timeline import TitleCard
from tests.conftest import Cli
from tests.ffmpegs import bundled_ffmpeg, system_ffmpeg


def _wrapper(folder: Path, version: str = "4.4.2-0ubuntu0.22.04.1") -> Path:
    """An `ffmpeg` that says it is ``version`` and otherwise runs the bundled binary;
    every call is logged (one line each) beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "ffmpeg"
    log = folder / "calls.log"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'if [ "$2" = "-version" ]; then\n'
        f'  echo "ffmpeg version {version} Copyright (c) 2000-2022"; exit 0\n'
        "fi\n"
        f'exec "{bundled_ffmpeg()}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _calls(script: Path) -> list[str]:
    log = script.with_name("calls.log")
    return log.read_text().splitlines() if log.exists() else []


def _old_ffmpeg(tmp_path: Path) -> tuple[Path, str]:
    """(a folder whose `ffmpeg` is one built without libass, what it lacks as the choice
    names it): the bundled binary behind a wrapper that leaves `ass` out of its filter
    list, as a build without --enable-libass does."""
    script = _wrapper(tmp_path / "old-bin", version="6.0")
    script.write_text(script.read_text().replace(
        f'exec "{bundled_ffmpeg()}" "$@"\n',
        'if [ "$2" = "-filters" ]; then\n'
        f'  "{bundled_ffmpeg()}" "$@" | grep -v " ass " ; exit 0\n'
        f'fi\nexec "{bundled_ffmpeg()}" "$@"\n'))
    return script.parent, "the ass filter"


@pytest.fixture(autouse=True)
def _fresh_choice() -> None:
    ffmpeg_binary._choose.cache_clear()
    ffmpeg_binary._features.cache_clear()


def test_a_path_ffmpeg_lacking_a_feature_gives_way_to_the_bundled_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    folder, lacking = _old_ffmpeg(tmp_path)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    choice = ffmpeg_binary.chosen()
    assert os.path.realpath(choice.path) == os.path.realpath(bundled_ffmpeg())
    assert choice.source == "imageio-ffmpeg"
    assert str(folder / "ffmpeg") in choice.reason and lacking in choice.reason

    result = cli("doctor", "--json")
    check = {c["name"]: c for c in json.loads(result.stdout)["checks"]}["ffmpeg"]
    assert check["ok"], check
    assert f"the ffmpeg on PATH ({folder / 'ffmpeg'}" in check["detail"]
    assert lacking in check["detail"] and "the bundled one has it" in check["detail"]
    assert "a test title render took" in check["detail"]
    human = cli("doctor").stdout
    assert "bundled one has it" in human


def test_a_complete_path_ffmpeg_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "new-bin"
    folder.mkdir()
    (folder / "ffmpeg").symlink_to(bundled_ffmpeg())
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    choice = ffmpeg_binary.chosen()
    assert choice.path == str(folder / "ffmpeg") and choice.source == "PATH"
    assert "every feature" in choice.reason


def test_an_explicit_ffmpeg_that_cannot_render_is_refused_before_rendering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _wrapper(tmp_path / "bin")
    monkeypatch.setenv("RENDERCLI_FFMPEG", str(old))
    items = [title_item(TitleCard("hello"), 0.5)]
    storage = tmp_path / "storage"
    with pytest.raises(OperationFailed) as refused:
        render_timeline(items, RenderSettings(preset="480p", fps=10, quality="draft"),
                        storage_dir=storage)
    message = refused.value.message
    assert "\n" not in message
    assert str(old) in message and "4.4.2" in message and "version 5.1 or newer" in message
    assert "apt-get install ffmpeg" in message and "unset RENDERCLI_FFMPEG" in message
    # Only the feature detection ran it: nothing was rendered.
    calls = _calls(old)
    assert calls and all(c.split()[:2][-1] in ("-version", "-filters", "-encoders", "-h")
                         for c in calls), calls
    assert not list(storage.rglob("*.mp4"))


def test_features_are_detected_once_per_binary_and_remembered_on_disk(
        tmp_path: Path) -> None:
    script = _wrapper(tmp_path / "bin", version="7.1.1")
    first = ffmpeg_binary.features(str(script))
    detections = len(_calls(script))
    assert detections == 3 and first.version == "7.1.1" and first.libass
    assert not first.missing() and "xfade" in first.filters and "libx264" in first.encoders
    ffmpeg_binary._features.cache_clear()  # a new process: the answer comes from disk
    assert ffmpeg_binary.features(str(script)) == first
    assert len(_calls(script)) == detections
    remembered = list((Path(os.environ["RENDERCLI_DATA_DIR"]) / "cache" / "ffmpeg").glob("*.json"))
    assert len(remembered) == 1

    # The binary changed (size and time): detected again.
    script.write_text(script.read_text().replace("7.1.1", "7.1.2"))
    os.utime(script, ns=(0, 10**18))
    ffmpeg_binary._features.cache_clear()
    assert ffmpeg_binary.features(str(script)).version == "7.1.2"
    assert len(_calls(script)) == 2 * detections

    # A tampered answer on disk is not believed.
    data = json.loads(remembered[0].read_text())
    data["features"]["filters"] = ["xfade; rm -rf /"]
    remembered[0].write_text(json.dumps(data))
    ffmpeg_binary._features.cache_clear()
    assert "xfade" in ffmpeg_binary.features(str(script)).filters
    assert len(_calls(script)) == 3 * detections


def test_the_systems_packaged_ffmpeg_is_complete_and_used_from_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian 12's ffmpeg (5.1, the stated minimum) has every feature: first on PATH, it
    is the one used, and it draws a title."""
    system = system_ffmpeg()
    if system is None:
        pytest.skip("no packaged ffmpeg installed (CI installs Debian's)")
    folder = tmp_path / "system-bin"
    folder.mkdir()
    (folder / "ffmpeg").symlink_to(system)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    choice = ffmpeg_binary.chosen()
    assert choice.source == "PATH" and not choice.features.missing(), choice
    assert choice.features.version_number >= ffmpeg_binary.MIN_VERSION

    assert_title_drawn(tmp_path)


def test_a_path_ffmpeg_that_does_not_run_gives_way_to_the_bundled_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "broken-bin"
    folder.mkdir()
    (folder / "ffmpeg").write_text("#!/bin/sh\necho 'error while loading shared libraries' >&2\n"
                                   "exit 127\n")
    (folder / "ffmpeg").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    choice = ffmpeg_binary.chosen()
    assert os.path.realpath(choice.path) == os.path.realpath(bundled_ffmpeg())
    assert f"ffmpeg {folder / 'ffmpeg'} does not run" in choice.reason
    assert "shared libraries" in choice.reason

    monkeypatch.setenv("RENDERCLI_FFMPEG", str(folder / "ffmpeg"))  # asked for: refused
    with pytest.raises(OperationFailed, match="does not run: error while loading"):
        ffmpeg_binary.chosen()


def test_with_no_ffmpeg_on_path_the_bundled_one_renders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh machine has no ffmpeg at all: the bundled binary is chosen, and draws."""
    empty = tmp_path / "no-ffmpeg-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    choice = ffmpeg_binary.chosen()
    assert os.path.realpath(choice.path) == os.path.realpath(bundled_ffmpeg())
    assert choice.source == "imageio-ffmpeg" and "no ffmpeg on PATH" in choice.reason

    assert_title_drawn(tmp_path)


def assert_title_drawn(tmp_path: Path) -> None:
    """Render a title card's frame with the chosen ffmpeg and check its white ink."""
    import av

    from rendercli.render.engine import render_frame

    out = tmp_path / "frame.png"
    render_frame([title_item(TitleCard("hello"), 1.0)],
                 RenderSettings(preset="480p", fps=10, quality="draft"), 0.5, out,
                 storage_dir=tmp_path / "storage")
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).reformat(format="gray")
    assert max(bytes(frame.planes[0])) > 200  # white ink drawn
