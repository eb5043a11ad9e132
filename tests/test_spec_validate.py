"""`rendercli spec validate`: media path rules, probing, data rows, and what is printed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.media_factory import make_audio, make_image, make_video
from tests.test_spec_loader import ISSUE_EXAMPLE


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    make_video(folder / "intro.mp4", duration=4.0, size=(160, 120))
    make_image(folder / "photo.png", size=(160, 120))
    make_audio(folder / "song.mp3", duration=1.0)
    return folder


@pytest.fixture
def project(tmp_path: Path, media: Path) -> Path:
    """A folder holding the issue's example spec and its media."""
    folder = tmp_path / "video"
    folder.mkdir()
    for name in ("intro.mp4", "photo.png", "song.mp3"):
        shutil.copy(media / name, folder / name)
    (folder / "video.yaml").write_text(ISSUE_EXAMPLE, encoding="utf-8")
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issue_example_validates(cli: Cli, project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    result = cli.ok("spec", "validate", "video.yaml")
    assert result.stdout == (
        "video.yaml: valid (3 timeline items; 1 music; placeholders name not checked: "
        "give --data ROWS or --set)\n")
    write(project, "rows.csv", "name\r\nAna\r\nBo\r\n")
    result = cli.ok("spec", "validate", "video.yaml", "--data", "rows.csv")
    assert result.stdout == "video.yaml: valid (3 timeline items; 1 music; 2 data rows)\n"
    assert result.stderr == ""


def test_problems_are_printed_as_file_line_column_and_exit_2(
    cli: Cli, project: Path, monkeypatch
) -> None:
    monkeypatch.chdir(project)
    write(project, "broken.yaml", "version: 1\ntimeline:\n  - media: a.mp4\n    trim_end: [3\n")
    write(project, "typo.yaml", "version: 1\ntimeline:\n  - media: intro.mp4\n    trim_ned: 1\n")
    result = cli("spec", "validate", "broken.yaml", "typo.yaml", "video.yaml")
    assert result.exit_code == 2
    assert result.stderr == (
        "broken.yaml:5:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence)\n"
        "typo.yaml:4:5: unknown key 'trim_ned' (did you mean 'trim_end'?): expected one of "
        "media, duration, trim_start, trim_end, transition, volume, fade_in, fade_out, mute, "
        "motion, fit, text\n"
        "2 problems found\n")
    assert result.stdout.startswith("video.yaml: valid")


def test_media_paths_must_stay_in_the_spec_folder(
    cli: Cli, project: Path, media: Path, tmp_path: Path, monkeypatch
) -> None:
    outside = tmp_path / "outside.mp4"
    shutil.copy(media / "intro.mp4", outside)
    (project / "sub").mkdir()
    (project / "sub" / "link.mp4").symlink_to(outside)
    (project / "inside.mp4").symlink_to(project / "intro.mp4")  # a link inside is fine
    write(project, "s.yaml", f"""\
version: 1
timeline:
  - media: ../outside.mp4
  - media: sub/link.mp4
  - media: {outside}
  - media: sub/../inside.mp4
  - media: missing.png
""")
    monkeypatch.chdir(project)
    result = cli("spec", "validate", "s.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "s.yaml:3:12: '../outside.mp4' goes up through .. outside the spec file's folder "
        "(allow it with --allow-outside)",
        "s.yaml:4:12: 'sub/link.mp4' leads outside the spec file's folder through a "
        "symbolic link (allow it with --allow-outside)",
        f"s.yaml:5:12: '{outside}' is an absolute path outside the spec file's folder "
        "(allow it with --allow-outside)",
        "s.yaml:7:12: no such file: 'missing.png'",
        "4 problems found",
    ]
    result = cli("spec", "validate", "s.yaml", "--allow-outside")
    assert result.stderr.splitlines() == ["s.yaml:7:12: no such file: 'missing.png'",
                                          "1 problem found"]


def test_media_is_probed_with_the_asset_add_gate_and_checked(
    cli: Cli, project: Path, monkeypatch
) -> None:
    write(project, "fake.mp4", "#EXTM3U\n#EXT-X-TARGETDURATION:1\nfile:///etc/passwd\n")
    (project / "empty.png").write_bytes(b"")
    write(project, "s.yaml", """\
version: 1
timeline:
  - media: fake.mp4
  - media: empty.png
  - media: song.mp3
  - media: intro.mp4
    duration: 2
    trim_end: 5
    transition: fade:1.5
  - media: photo.png
    trim_start: 1
    motion: zoom-out
    text: [{text: hi, at: 3}]
music:
  - media: intro.mp4
  - media: photo.png
""")
    monkeypatch.chdir(project)
    result = cli("spec", "validate", "s.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "s.yaml:3:12: 'fake.mp4': not a supported media file (format 'hls' is not allowed)",
        "s.yaml:4:12: 'empty.png': file is empty",
        "s.yaml:5:12: 'song.mp3' is audio: put it under music:, the timeline holds clips, "
        "stills and titles",
        "s.yaml:7:15: duration applies to stills; 'intro.mp4' is a clip (use trim_start and "
        "trim_end)",
        "s.yaml:8:15: trim_end 5 is past the end of 'intro.mp4' (4 s)",
        "s.yaml:11:17: trim_start applies to clips; 'photo.png' is a still image (use duration)",
        "s.yaml:13:12: this text starts at 3 s, after the item's 3 s",
        "s.yaml:15:12: 'intro.mp4' is a video clip: music must be an audio file",
        "s.yaml:16:12: 'photo.png' is a still image: music must be an audio file",
        "9 problems found",
    ]


def test_a_transition_must_fit_both_neighbours(cli: Cli, project: Path, monkeypatch) -> None:
    write(project, "s.yaml", """\
version: 1
timeline:
  - media: intro.mp4
    trim_start: 3
    transition: fade:1.5
  - media: photo.png
    duration: 2
""")
    monkeypatch.chdir(project)
    result = cli("spec", "validate", "s.yaml")
    assert result.stderr.splitlines()[0] == (
        "s.yaml:5:17: the fade transition (1.5 s) is longer than timeline item 1 (1 s)")


def test_every_row_is_checked_with_its_row_number(cli: Cli, project: Path, monkeypatch) -> None:
    write(project, "s.yaml", """\
version: 1
output: {name: "hello-{{ name }}.mp4"}
timeline:
  - title: "Hello {{ name }}"
  - media: "{{ photo }}"
""")
    write(project, "rows.csv", "name,photo\nAna,photo.png\n,photo.png\nBo/x,../up.png\n"
                               "Cy,song.mp3\nDi,nothere.png\n")
    monkeypatch.chdir(project)
    result = cli("spec", "validate", "s.yaml", "--data", "rows.csv")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "rows.csv:3:1: row 2: no value for {{ name }} (used at s.yaml:2:16)",
        "rows.csv:3:1: row 2: no value for {{ name }} (used at s.yaml:4:12)",
        "rows.csv:4:1: row 3: '../up.png' goes up through .. outside the spec file's folder "
        "(allow it with --allow-outside) (used at s.yaml:5:12)",
        "rows.csv:4:1: row 3: output name 'hello-Bo/x.mp4' must be a file name without "
        "folders (used at s.yaml:2:16)",
        "rows.csv:5:1: row 4: 'song.mp3' is audio: put it under music:, the timeline holds "
        "clips, stills and titles (used at s.yaml:5:12)",
        "rows.csv:6:1: row 5: no such file: 'nothere.png' (used at s.yaml:5:12)",
        "6 problems found",
    ]
    write(project, "rows.json", '[{"name": "Ana", "photo": "../x.png"}]')
    result = cli("spec", "validate", "s.yaml", "--data", "rows.json")
    assert result.stderr.splitlines()[0] == (
        "rows.json:1:1: row 1: '../x.png' goes up through .. outside the spec file's folder "
        "(allow it with --allow-outside) (used at s.yaml:5:12)")


def test_a_field_no_row_has_is_reported_once_in_the_spec(
    cli: Cli, project: Path, monkeypatch
) -> None:
    write(project, "rows.csv", "nom\nAna\nBo\n")
    monkeypatch.chdir(project)
    result = cli("spec", "validate", "video.yaml", "--data", "rows.csv")
    assert result.exit_code == 2
    assert result.stderr == ("video.yaml:4:12: no value for {{ name }}: rows.csv has no field "
                             "'name' (its fields: nom)\n1 problem found\n")


def test_bad_data_files_stop_before_any_spec_is_checked(
    cli: Cli, project: Path, monkeypatch
) -> None:
    (project / "rows.csv").write_bytes(b"")
    monkeypatch.chdir(project)
    result = cli("spec", "validate", "video.yaml", "--data", "rows.csv")
    assert (result.exit_code, result.stderr) == (
        2, "rows.csv:1:1: the file is empty\n1 problem found\n")
    assert result.stdout == ""


def test_json_output_lists_every_error_as_data(cli: Cli, project: Path, monkeypatch) -> None:
    write(project, "s.yaml", "version: 1\ntimeline:\n  - media: missing.mp4\n")
    monkeypatch.chdir(project)
    result = cli("spec", "validate", "s.yaml", "video.yaml", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    assert doc["errors"] == [{"file": "s.yaml", "line": 3, "column": 12, "row": None,
                              "message": "no such file: 'missing.mp4'"}]
    assert [(f["file"], f["valid"]) for f in doc["files"]] == [("s.yaml", False),
                                                               ("video.yaml", True)]
    assert doc["files"][1]["placeholders"] == ["name"]


def test_ten_thousand_rows_are_validated(cli: Cli, project: Path, monkeypatch) -> None:
    write(project, "rows.csv", "name\n" + "".join(f"person {i}\n" for i in range(10_000)))
    monkeypatch.chdir(project)
    result = cli.ok("spec", "validate", "video.yaml", "--data", "rows.csv", "--json")
    doc = json.loads(result.stdout)
    assert doc["valid"] is True and doc["files"][0]["rows_checked"] == 10_000
