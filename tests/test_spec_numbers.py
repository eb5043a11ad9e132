"""Numbers as placeholders (issue 23): a duration, a trim, a fade, a transition's length,
a volume, a text's timing or the output fps can come from a data row or ``--set``, and is
checked once filled in with the bounds and rules a number written in the file gets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.specfile.batch_rows import rows_from_text
from rendercli.specfile.check import validate_loaded
from rendercli.specfile.fill import fill, template_sites
from rendercli.specfile.loader import load_text
from rendercli.specfile.media import Prober
from rendercli.specfile.problems import SpecInvalid
from rendercli.specfile.shapes import Unfilled
from tests.conftest import Account
from tests.media_factory import make_video
from tests.test_spec_schema import validator

SPEC = """\
version: 1
output: {preset: 480p, fps: "{{ fps }}", quality: draft, name: "{{ name }}.mp4"}
timeline:
  - title: "Hi {{ name }}"
    duration: "{{ seconds }}"
    fade_in: "{{ fade }}"
    transition: {kind: fade, duration: "{{ cross }}"}
  - title: Two
    duration: 1
    text: [{text: note, at: "{{ at }}"}]
"""


def load(text: str = SPEC):  # type: ignore[no-untyped-def]
    return load_text(text, "s.yaml", base_dir=Path("/x"))


def test_a_number_placeholder_is_left_to_the_row_and_read_with_its_field() -> None:
    loaded = load()
    assert loaded.spec.timeline[0].duration == Unfilled("{{ seconds }}",
                                                        loaded.spec.timeline[0].duration.shape)
    problems: list[tuple[object, str]] = []
    row = {"name": "Ana", "fps": "12", "seconds": "2.5", "fade": ".5", "cross": "1e-1",
           "at": "0"}
    spec = fill(loaded, template_sites(loaded.spec), row,
                lambda where, msg: problems.append((where, msg)))
    assert problems == []
    assert spec is not None
    assert spec.output.fps == 12 and isinstance(spec.output.fps, int)
    assert spec.timeline[0].duration == 2.5
    assert spec.timeline[0].fade_in == 0.5
    assert spec.timeline[0].transition.duration == pytest.approx(0.1)
    assert spec.timeline[1].text[0].at == 0.0


def test_bounds_and_rules_spanning_fields_are_the_loaders_once_filled() -> None:
    loaded = load()
    problems: list[tuple[object, str]] = []
    row = {"name": "Ana", "fps": "x", "seconds": "1", "fade": "3", "cross": "0", "at": "5"}
    assert fill(loaded, template_sites(loaded.spec), row,
                lambda where, msg: problems.append((where, msg))) is None
    assert sorted(problems, key=str) == sorted([
        (("output", "fps"), "fps: expected a whole number from 1 to 120, got 'x' once "
                            "filled in"),
        (("timeline", 0, "fade_in"), "fade_in (3 s) and fade_out (0 s) together exceed "
                                     "the item's 1 s"),
        (("timeline", 0, "transition", "duration"),
         "a fade transition needs a duration above 0 seconds (or kind: none)"),
        (("timeline", 1, "text"), "a text starts at 5 s, after the item's 1 s"),
    ], key=str)
    # The same number written in the file gets the same message (one check, one home).
    with pytest.raises(SpecInvalid) as literal:
        load(SPEC.replace('"{{ fps }}"', "0"))
    assert "expected a whole number from 1 to 120, got 0" in str(literal.value)


def test_a_volume_placeholder_takes_a_gain_or_decibels() -> None:
    loaded = load("version: 1\ntimeline:\n  - title: x\nmusic:\n"
                  "  - {media: a.mp3, volume: '{{ v }}'}\n")
    sites = template_sites(loaded.spec)
    for value, expected in (("0.5", 0.5), ("-6dB", 10 ** (-6 / 20))):
        spec = fill(loaded, sites, {"v": value}, lambda *_: pytest.fail("no problem"))
        assert spec is not None and spec.music[0].volume == pytest.approx(expected)
    problems: list[str] = []
    assert fill(loaded, sites, {"v": "9"}, lambda _w, msg: problems.append(msg)) is None
    assert problems == ["volume: expected a number from 0 to 4, got 9 once filled in"]


def test_validate_reports_every_rows_number_problems_at_once() -> None:
    loaded = load()
    rows = rows_from_text("name,fps,seconds,fade,cross,at\nA,10,2,0,0.5,0\nB,10,0,0,0.5,0\n"
                          "C,500,1,0,0.5,2\n", "rows.csv", "csv")
    report = validate_loaded(loaded, rows=rows, allow_outside=False, prober=Prober())
    assert [str(p) for p in report.problems] == [
        "rows.csv:3:1: row 2: duration: expected a number above 0, got 0 once filled in "
        "(used at s.yaml:5:15)",
        "rows.csv:4:1: row 3: a text starts at 2 s, after the item's 1 s "
        "(used at s.yaml:10:11)",
        "rows.csv:4:1: row 3: fps: expected a whole number from 1 to 120, got 500 once "
        "filled in (used at s.yaml:2:29)",
    ]
    assert report.rows_checked == 3


def test_a_transition_longer_than_a_rows_title_is_reported_at_that_row() -> None:
    loaded = load()
    rows = rows_from_text("name,fps,seconds,fade,cross,at\nA,10,0.5,0,0.8,0\n", "r.csv", "csv")
    report = validate_loaded(loaded, rows=rows, allow_outside=False, prober=Prober())
    assert [p.message for p in report.problems] == [
        "row 1: the fade transition (0.8 s) is longer than timeline item 1 (0.5 s) "
        "(used at s.yaml:7:17)"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "cards"
    folder.mkdir()
    make_video(folder / "intro.mp4", duration=2.0, size=(160, 120))
    (folder / "video.yaml").write_text(
        "version: 1\n"
        "output: {preset: 480p, fps: 10, quality: draft, name: '{{ name }}.mp4'}\n"
        "timeline:\n"
        "  - title: 'Hello {{ name }}'\n"
        "    duration: '{{ seconds }}'\n"
        "  - media: intro.mp4\n"
        "    trim_end: '{{ clip }}'\n", encoding="utf-8")
    return folder


def frames(path: Path) -> int:
    out = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-i", str(path), "-map", "0:v", "-f", "null", "-"],
        capture_output=True, text=True, check=True).stderr
    return int(out.rsplit("frame=", 1)[1].split()[0])


@pytest.mark.any_database
def test_validate_without_data_says_numbers_are_filled_per_row(
        alice: Account, folder: Path) -> None:
    result = alice.ok("spec", "validate", str(folder / "video.yaml"))
    assert "duration, trim_end filled per row, checked once filled" in result.stdout
    data = json.loads(alice.ok("spec", "validate", str(folder / "video.yaml"),
                               "--json").stdout)
    assert data["files"][0]["numbers_per_row"] == ["duration", "trim_end"]


@pytest.mark.any_database
def test_apply_set_fills_a_number_and_checks_it_against_the_media(
        alice: Account, folder: Path) -> None:
    spec = str(folder / "video.yaml")
    past = alice("apply", spec, "--set", "name=A", "--set", "seconds=1", "--set", "clip=3")
    assert past.exit_code == 2
    assert "trim_end 3 is past the end of 'intro.mp4' (2 s)" in past.stderr
    zero = alice("apply", spec, "--set", "name=A", "--set", "seconds=0", "--set", "clip=1")
    assert zero.exit_code == 2
    assert "duration: expected a number above 0, got 0 once filled in" in zero.stderr
    missing = alice("apply", spec, "--set", "name=A", "--set", "clip=1")
    assert missing.exit_code == 2 and "--set seconds=VALUE" in missing.stderr
    alice.ok("apply", spec, "--set", "name=A", "--set", "seconds=1.5", "--set", "clip=1")
    items = json.loads(alice.ok("asset", "list", "video", "--json").stdout)["assets"]
    assert items[0]["still_duration"] == 1.5
    assert items[1]["trim_end"] == 1


@pytest.mark.slow
@pytest.mark.any_database
def test_a_batch_varying_durations_renders_each_rows_length(
        alice: Account, folder: Path, tmp_path: Path) -> None:
    (folder / "rows.csv").write_text("name,seconds,clip\nA,1,0.5\nB,2.5,2\n", encoding="utf-8")
    out = tmp_path / "out"
    done = alice.ok("render", "batch", str(folder / "video.yaml"), "--data",
                    str(folder / "rows.csv"), "--output-dir", str(out), "--json")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [x["status"] for x in lines] == ["completed", "completed"]
    # 10 fps: title seconds + clip seconds, in frames, per row.
    assert frames(out / "A.mp4") == 15
    assert frames(out / "B.mp4") == 45


def test_a_transitions_seconds_or_whole_shorthand_can_come_from_the_row() -> None:
    loaded = load("version: 1\ntimeline:\n  - {title: a, transition: 'fade:{{ t }}'}\n"
                  "  - {title: b, transition: '{{ kind }}'}\n  - title: c\n")
    sites = template_sites(loaded.spec)
    spec = fill(loaded, sites, {"t": "0.25", "kind": "wipeleft:1"},
                lambda *_: pytest.fail("no problem"))
    assert spec is not None
    assert (spec.timeline[0].transition.kind, spec.timeline[0].transition.duration) == (
        "fade", 0.25)
    assert (spec.timeline[1].transition.kind, spec.timeline[1].transition.duration) == (
        "wipeleft", 1.0)
    problems: list[str] = []
    assert fill(loaded, sites, {"t": "x", "kind": "fdae"},
                lambda _w, msg: problems.append(msg)) is None
    assert len(problems) == 2
    assert all(m.startswith("transition, once filled in: ") for m in problems)
    assert any("did you mean 'fade'" in m for m in problems), problems


def test_validate_without_data_leaves_row_numbers_and_transitions_to_the_rows() -> None:
    for text in (SPEC, SPEC.replace('{kind: fade, duration: "{{ cross }}"}', '"{{ cross }}"')):
        report = validate_loaded(load(text), rows=None, allow_outside=False, prober=Prober())
        assert report.problems == []
        assert set(report.numbers_per_row) >= {"fps", "duration", "fade_in", "at"}


def test_an_unquoted_placeholder_is_one_problem_saying_to_quote_it() -> None:
    with pytest.raises(SpecInvalid) as caught:
        load("version: 1\ntimeline:\n  - title: {{ name }}\n    duration: {{s}}\n"
             "    fade_in: {{ a: 1 }: 2}\n")
    assert [str(p) for p in caught.value.problems] == [
        's.yaml:3:12: {{ name }} without quotes is a YAML mapping: quote it, as "{{ name }}"',
        's.yaml:4:15: {{ s }} without quotes is a YAML mapping: quote it, as "{{ s }}"',
        "s.yaml:5:14: expected a number >= 0, got a mapping",
        "s.yaml:5:15: a key must be plain text, not a list or mapping",
    ]


@pytest.mark.parametrize("value", ["9" * 5000, "1e999", "inf", "nan", "2s", "0x10", ""])
def test_what_is_not_a_usable_number_is_one_clear_problem(value: str) -> None:
    loaded = load("version: 1\ntimeline:\n  - {title: a, duration: '{{ s }}'}\n")
    problems: list[str] = []
    assert fill(loaded, template_sites(loaded.spec), {"s": value},
                lambda _w, msg: problems.append(msg)) is None
    assert len(problems) == 1
    assert problems[0].startswith(("duration: expected a number above 0, got",
                                   "no value for {{ s }}")), problems
    assert len(problems[0]) < 200


def test_the_docs_example_is_valid_for_the_schema_and_the_loader() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "spec.md").read_text(encoding="utf-8")
    section = docs.split("### Numbers from a row", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert '"{{ seconds }}"' in example
    assert list(validator().iter_errors(yaml.safe_load(example))) == []
    loaded = load(example)
    assert {s.path[-1] for s in template_sites(loaded.spec)} >= {
        "duration", "transition", "trim_end", "volume"}
    bad = yaml.safe_load(example)
    bad["timeline"][0]["duration"] = "two seconds"
    assert list(validator().iter_errors(bad)) != []
