"""Every problem in one run: format and media errors together, no bogus follow-on errors,
and a batch's row problems reported with the names the rows share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Account, Cli
from tests.media_factory import make_audio, make_video
from tests.test_batch import SPEC, counts
from tests.test_spec_loader import problems


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("at-once-media")
    make_video(folder / "intro.mp4", duration=1.5, size=(160, 120))
    make_audio(folder / "song.mp3", duration=2.0)
    (folder / "notes.txt").write_text("not media\n", encoding="utf-8")
    return folder


@pytest.fixture
def folder(tmp_path: Path, media: Path) -> Path:
    folder = tmp_path / "spec"
    shutil.copytree(media, folder)
    return folder


BROKEN = """\
version: 1
timeline:
  - media: intro.mp4
    trim_ned: 1
  - media: missing.mp4
  - media: notes.txt
    duration: 2
music:
  - media: gone.mp3
    dcuk: true
"""


def test_a_format_error_does_not_hide_media_errors(cli: Cli, folder: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    (folder / "video.yaml").write_text(BROKEN, encoding="utf-8")
    result = cli("spec", "validate", "video.yaml")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines == [
        "video.yaml:4:5: unknown key 'trim_ned' (did you mean 'trim_end'?): expected one of "
        "media, duration, trim_start, trim_end, transition, volume, fade_in, fade_out, mute, "
        "motion, fit, text",
        "video.yaml:5:12: no such file: 'missing.mp4'",
        "video.yaml:6:12: 'notes.txt': not a supported media file or it is damaged",
        "video.yaml:9:12: no such file: 'gone.mp3'",
        "video.yaml:10:5: unknown key 'dcuk' (did you mean 'duck'?): expected one of "
        "media, trim_start, trim_end, volume, fade_in, fade_out, mute, duck",
        "5 problems found",
    ]


def test_apply_reports_format_and_media_errors_together(
    alice: Account, folder: Path, database_url: str
) -> None:
    (folder / "video.yaml").write_text(BROKEN, encoding="utf-8")
    result = alice("apply", str(folder / "video.yaml"))
    assert result.exit_code == 2
    assert "no such file: 'missing.mp4'" in result.stderr
    assert "unknown key 'trim_ned'" in result.stderr
    assert result.stderr.endswith("5 problems found; nothing was changed\n")
    assert counts(database_url) == (0, 0)


def test_an_alias_bomb_adds_no_missing_key_errors() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for n in range(1, 8):
        laughs += f"{'abcdefgh'[n]}: &{'abcdefgh'[n]} [" + ", ".join(
            [f"*{'abcdefgh'[n - 1]}"] * 10) + "]\n"
    found = problems(laughs + "version: 1\ntimeline: [{title: x}]\n")
    assert any("too many values" in p for p in found)
    assert not [p for p in found if "missing key" in p], found
    # Without a bomb, a missing key is still reported.
    assert problems("version: 1\n") == ["s.yaml:1:1: missing key 'timeline'"]


def test_a_batch_reports_row_problems_and_shared_names_in_one_run(
    alice: Account, folder: Path, database_url: str
) -> None:
    (folder / "video.yaml").write_text(SPEC.replace("media: intro.mp4", "media: '{{ clip }}'"),
                                       encoding="utf-8")
    (folder / "rows.csv").write_text("name,clip\nAna,intro.mp4\nAna,intro.mp4\n"
                                     "Bo,missing.mp4\n", encoding="utf-8")
    result = alice("render", "batch", str(folder / "video.yaml"), "--data",
                   str(folder / "rows.csv"), "--name-field", "name")
    assert result.exit_code == 2
    assert "rows.csv:3:1: row 2: project name 'video-Ana' is also row 1's" in result.stderr
    assert "rows.csv:3:1: row 2: output name 'greeting-Ana.mp4' is also row 1's" in (
        result.stderr)
    assert "rows.csv:4:1: row 3: no such file: 'missing.mp4'" in result.stderr
    assert result.stderr.endswith("3 problems found; nothing was changed\n")
    # A bad spec and a bad data file: both files' problems at once.
    (folder / "video.yaml").write_text(SPEC.replace("duck: true", "duck: maybe"),
                                       encoding="utf-8")
    (folder / "rows.csv").write_text("", encoding="utf-8")
    both = alice("render", "batch", str(folder / "video.yaml"), "--data",
                 str(folder / "rows.csv"))
    assert both.exit_code == 2
    assert "video.yaml:10:11: expected" in both.stderr
    assert "rows.csv:1:1: the file is empty" in both.stderr
    assert counts(database_url) == (0, 0)
