"""The first hour's friction (issue 23): a spec's output.name, output folders that do not
exist yet, batch messages and rows in order, values as written, placeholders for colours
and numbers, every row problem at once, and "did you mean" on the CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rendercli.media.ffmpeg_binary import ffmpeg_path
from tests.conftest import Account
from tests.media_factory import make_audio, make_video

pytestmark = pytest.mark.any_database

SPEC = """\
version: 1
output: {preset: 480p, fps: 10, quality: draft, name: "greeting-{{ name }}.mp4"}
timeline:
  - title: "Hello {{ name }}"
    duration: 1
  - media: intro.mp4
"""


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("first-hour-media")
    make_video(folder / "intro.mp4", duration=1.0, size=(160, 120))
    make_audio(folder / "song.mp3", duration=1.0)
    return folder


@pytest.fixture
def folder(tmp_path: Path, media: Path) -> Path:
    folder = tmp_path / "greetings"
    shutil.copytree(media, folder)
    (folder / "video.yaml").write_text(SPEC, encoding="utf-8")
    (folder / "rows.csv").write_text("name\nCy\nAna\nBo\n", encoding="utf-8")
    return folder


def frames(path: Path) -> int:
    out = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-i", str(path), "-map", "0:v", "-f", "null", "-"],
        capture_output=True, text=True, check=True).stderr
    return int(out.rsplit("frame=", 1)[1].split()[0])


def test_submit_spec_writes_the_specs_output_name(
        alice: Account, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    done = alice.ok("render", "submit", "--spec", str(folder / "video.yaml"), "--set",
                    "name=Ana")
    assert done.stdout.strip().endswith("greeting-Ana.mp4")
    assert frames(work / "greeting-Ana.mp4") == 20  # 1 s title + 1 s clip at 10 fps
    # Again: the file is there, so exit 5 names --output and --force, before rendering.
    again = alice("render", "submit", "--spec", str(folder / "video.yaml"), "--set",
                  "name=Ana")
    assert again.exit_code == 5
    assert "add --force to replace it, or choose another name with --output" in again.stderr
    # --output wins over the spec's name.
    alice.ok("render", "submit", "--spec", str(folder / "video.yaml"), "--set", "name=Ana",
             "--output", str(work / "mine.mp4"))
    assert frames(work / "mine.mp4") == 20


def test_output_dir_and_export_create_missing_folders(
        alice: Account, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "not" / "yet" / "there"
    result = alice.ok("render", "batch", str(folder / "video.yaml"), "--data",
                      str(folder / "rows.csv"), "--name-field", "name", "--output-dir",
                      str(out), "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(p.name for p in out.iterdir()) == [
        "greeting-Ana.mp4", "greeting-Bo.mp4", "greeting-Cy.mp4"]
    assert frames(out / "greeting-Bo.mp4") == 20
    # The files are there now: exit 5 names the option render batch has.
    again = alice("render", "batch", str(folder / "video.yaml"), "--data",
                  str(folder / "rows.csv"), "--name-field", "name", "--output-dir", str(out))
    assert again.exit_code == 5
    assert "or choose another --output-dir (nothing was written)" in again.stderr
    assert "--output " not in again.stderr.replace("--output-dir", "")
    # jobs watch --batch: the rows in the data file's order, not by job id.
    watched = alice.ok("jobs", "watch", "--batch", rows[0]["batch_id"], "--json")
    names = [json.loads(line)["project_name"] for line in watched.stdout.splitlines()]
    assert names == ["video-Cy", "video-Ana", "video-Bo"]
    # project export -o into folders that do not exist yet.
    spec = tmp_path / "exports" / "deep" / "cy.yaml"
    alice.ok("project", "export", "video-Cy", "-o", str(spec))
    assert spec.is_file() and (spec.parent / "cy-media" / "intro.mp4").is_file()


def test_a_file_in_the_way_of_a_folder_is_refused(
        alice: Account, folder: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = alice("render", "batch", str(folder / "video.yaml"), "--data",
                   str(folder / "rows.csv"), "--output-dir", str(tmp_path / "file"))
    assert result.exit_code == 2
    assert result.stderr == (f"error: --output-dir: {tmp_path / 'file'} is there and is not "
                             "a directory (nothing was written)\n")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    result = alice("project", "export", "video", "-o", str(tmp_path / "dangling" / "x.yaml"))
    assert result.exit_code == 2 and "is there and is not a directory" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_the_cli_suggests_a_transition_and_a_negative_loudness(
        alice: Account, folder: Path) -> None:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(folder / "intro.mp4"))
    result = alice("asset", "update", "film:1", "--transition", "crosfade:0.5")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: unknown transition 'crosfade' (did you mean 'crossfade'?): expected KIND")
    result = alice("render", "submit", "film", "--loudness", "14")
    assert result.exit_code == 2
    assert result.stderr == ("error: loudness target must be from -70 to -5 LUFS, got 14.0 "
                             "(did you mean -14?)\n")
    result = alice("render", "submit", "film", "--loudness", "-99")
    assert result.exit_code == 2 and "did you mean" not in result.stderr
    # The spec check says the same, from the same helper.
    spec = folder / "typo.yaml"
    spec.write_text("version: 1\ntimeline:\n  - media: intro.mp4\n    transition: crosfade\n",
                    encoding="utf-8")
    checked = alice("spec", "validate", str(spec))
    assert checked.exit_code == 2 and "(did you mean 'crossfade'?)" in checked.stderr


def test_a_row_reports_an_empty_value_and_a_missing_file_at_once(
        alice: Account, folder: Path) -> None:
    (folder / "video.yaml").write_text(
        SPEC.replace("media: intro.mp4", "media: '{{ clip }}'"), encoding="utf-8")
    (folder / "rows.csv").write_text("name,clip\nAna,intro.mp4\n,missing.mp4\n",
                                     encoding="utf-8")
    result = alice("render", "batch", str(folder / "video.yaml"), "--data",
                   str(folder / "rows.csv"))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert any("row 2: no value for {{ name }}" in line for line in lines), lines
    assert any("row 2: no such file: 'missing.mp4'" in line for line in lines), lines
    assert lines[-1].endswith("problems found; nothing was changed")


def _first_frame_rgb(path: Path) -> tuple[int, int, int]:
    raw = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-frames:v",
         "1", "-vf", "crop=8:8:0:0,scale=1:1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True).stdout
    return raw[0], raw[1], raw[2]


def test_a_title_colour_comes_from_the_row(
        alice: Account, folder: Path, tmp_path: Path) -> None:
    (folder / "video.yaml").write_text(SPEC.replace(
        "    duration: 1\n", "    duration: 1\n    background: '{{ bg }}'\n"), encoding="utf-8")
    (folder / "rows.csv").write_text("name,bg\nAna,red\nBo,#0000ff\nCy,blurple\n",
                                     encoding="utf-8")
    args = ("render", "batch", str(folder / "video.yaml"), "--data", str(folder / "rows.csv"),
            "--name-field", "name", "--output-dir", str(tmp_path / "out"))
    bad = alice(*args)
    assert bad.exit_code == 2
    assert "row 3: background: expected a colour: #RRGGBB or black" in bad.stderr
    assert "got 'blurple' once filled in" in bad.stderr
    (folder / "rows.csv").write_text("name,bg\nAna,red\nBo,#0000ff\n", encoding="utf-8")
    alice.ok(*args)
    red = _first_frame_rgb(tmp_path / "out" / "greeting-Ana.mp4")
    blue = _first_frame_rgb(tmp_path / "out" / "greeting-Bo.mp4")
    assert red[0] > 200 and red[1] < 60 and red[2] < 60, red
    assert blue[2] > 200 and blue[0] < 60 and blue[1] < 60, blue


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_volume_is_shown_and_exported_as_written(
        alice: Account, folder: Path, tmp_path: Path, database_url: str) -> None:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(folder / "intro.mp4"), str(folder / "song.mp3"))
    alice.ok("asset", "update", "film:1", "--volume", "-3dB")
    alice.ok("asset", "update", "film:2", "--volume", "0.5")
    listed = alice.ok("asset", "list", "film").stdout
    assert "volume -3dB" in listed and "volume 0.5" in listed and "0.708" not in listed
    shown = json.loads(alice.ok("asset", "show", "film:1", "--json").stdout)
    assert shown["volume_text"] == "-3dB" and shown["volume"] == pytest.approx(0.70794578)
    assert re.search(r"volume: +-3dB \(gain 0.708\)", alice.ok("asset", "show", "film:1").stdout)
    spec = tmp_path / "out" / "film.yaml"
    alice.ok("project", "export", "film", "-o", str(spec))
    text = spec.read_text(encoding="utf-8")
    assert "volume: -3dB" in text and "volume: 0.5" in text and "0.7079" not in text
    # Applied back as another project: the same text, and a second apply changes nothing.
    again = json.loads(alice.ok("apply", str(spec), "--project", "copy", "--json").stdout)
    assert again["create"] is True
    copy = json.loads(alice.ok("asset", "show", "copy:1", "--json").stdout)
    assert (copy["volume_text"], copy["volume"]) == ("-3dB", shown["volume"])
    unchanged = json.loads(alice.ok("apply", str(spec), "--project", "copy", "--json").stdout)
    assert unchanged["changed"] is False
    # A plain gain given later replaces the decibels.
    alice.ok("asset", "update", "film:1", "--volume", "0.25")
    assert json.loads(alice.ok("asset", "show", "film:1", "--json").stdout)[
        "volume_text"] is None
