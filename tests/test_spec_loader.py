"""Reading spec files: the model, and every problem with its file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from rendercli.specfile.loader import load_spec, load_text
from rendercli.specfile.model import (
    MediaItem,
    MusicItem,
    Output,
    TextOverlay,
    TitleCard,
    Transition,
)
from rendercli.specfile.problems import SpecInvalid

# The example from issue 12, exactly as written there.
ISSUE_EXAMPLE = """\
version: 1
output: {preset: 480p, format: mp4, fps: 30}
timeline:
  - title: "Hello {{ name }}"
    duration: 2
  - media: intro.mp4
    trim_end: 3
    transition: fade:0.5
  - media: photo.png
    duration: 2
    motion: zoom-in
music:
  - media: song.mp3
    duck: true
"""


def problems(text: str, syntax: str = "yaml") -> list[str]:
    with pytest.raises(SpecInvalid) as caught:
        load_text(text, "s.yaml" if syntax == "yaml" else "s.json", base_dir=Path("/x"),
                  syntax=syntax)
    return [str(p) for p in caught.value.problems]


def test_the_issue_example_is_accepted_as_written() -> None:
    spec = load_text(ISSUE_EXAMPLE, "video.yaml", base_dir=Path("/x")).spec
    assert spec.version == 1
    assert spec.output == Output(preset="480p", format="mp4", fps=30)
    assert spec.timeline == (
        TitleCard(title="Hello {{ name }}", duration=2.0),
        MediaItem(media="intro.mp4", trim_end=3.0,
                  transition=Transition(kind="fade", duration=0.5)),
        MediaItem(media="photo.png", duration=2.0, motion="zoom-in"),
    )
    assert spec.music == (MusicItem(media="song.mp3", duck=True),)


def test_every_option_of_the_timeline_is_read() -> None:
    text = """\
version: 1
project: "trip {{ who }}"
output: {preset: vertical, format: webm, fps: 25, quality: high, loudness: -14,
         name: "trip-{{ who }}.webm"}
timeline:
  - title: Welcome
    background: "#102030"
    color: gold
    size: small
    fade_in: 0.5
    transition: {kind: wipeleft, duration: 0.25}
  - media: clip.mov
    trim_start: 1
    trim_end: 4.5
    volume: -6dB
    fade_out: 1
    mute: false
    transition: dissolve
    text:
      - Lower third
      - {text: "Top {{ who }}", at: 1, for: 2, placement: top, size: large, color: red,
         box: false}
music:
  - {media: bed.mp3, volume: 0.5, fade_in: 1, fade_out: 2, duck: true, trim_start: 3}
"""
    spec = load_text(text, "s.yaml", base_dir=Path("/x")).spec
    title, clip = spec.timeline
    assert spec.project == "trip {{ who }}"
    assert spec.output == Output(preset="vertical", format="webm", fps=25, quality="high",
                                 loudness=-14.0, name="trip-{{ who }}.webm")
    assert title == TitleCard(title="Welcome", background="#102030", color="gold",
                              size="small", fade_in=0.5,
                              transition=Transition(kind="wipeleft", duration=0.25))
    assert clip.volume == pytest.approx(10 ** (-6 / 20))
    assert clip.transition == Transition(kind="dissolve", duration=1.0)
    assert clip.text == (
        TextOverlay(text="Lower third"),
        TextOverlay(text="Top {{ who }}", at=1.0, for_=2.0, placement="top", size="large",
                    color="red", box=False),
    )
    assert spec.music == (MusicItem(media="bed.mp3", volume=0.5, fade_in=1.0, fade_out=2.0,
                                    duck=True, trim_start=3.0),)


def test_malformed_yaml_is_one_problem_with_its_position() -> None:
    assert problems("version: 1\ntimeline:\n  - media: a.mp4\n    trim_end: [3\n") == [
        "s.yaml:5:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence)"
    ]
    assert problems("version: 1\ntimeline: x\n bad: 2\n") == [
        "s.yaml:3:5: invalid YAML: mapping values are not allowed here"
    ]


def test_all_problems_are_reported_at_once_with_positions() -> None:
    text = """\
version: 1
output: {preset: 480, fps: 30.5, loudnes: -14}
timeline:
  - media: intro.mp4
    trim_ned: 3
    transition: fdae:0.5
    volume: 9
  - title: no
    duration: -2
    mute: true
"""
    assert problems(text) == [
        "s.yaml:2:18: expected one of 2160p, 1080p, 720p, 480p, square, vertical, got a "
        "number (did you mean '480p'?)",
        "s.yaml:2:28: expected a whole number from 1 to 120, got 30.5",
        "s.yaml:2:34: unknown key 'loudnes' (did you mean 'loudness'?): expected one of "
        "preset, format, fps, quality, loudness, name",
        "s.yaml:5:5: unknown key 'trim_ned' (did you mean 'trim_end'?): expected one of "
        "media, duration, trim_start, trim_end, transition, volume, fade_in, fade_out, mute, "
        "motion, fit, text",
        "s.yaml:6:17: unknown transition 'fdae' (did you mean 'fade'?): expected KIND or "
        "KIND:SECONDS with a KIND from none, crossfade, fade, fadeblack, wipeleft, wiperight, "
        "slideleft, slideright, circleopen, dissolve",
        "s.yaml:7:13: expected a number from 0 to 4, got 9",
        "s.yaml:8:12: expected text, got a boolean (YAML reads yes/no/on/off as booleans: "
        "quote it to make it text)",
        "s.yaml:9:15: expected a number above 0, got -2",
        "s.yaml:10:5: unknown key 'mute': expected one of title, duration, background, color, "
        "size, font, face, style, text_fade_in, text_fade_out, transition, fade_in, fade_out, "
        "text",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"fade:"', "invalid transition 'fade:': expected KIND:SECONDS"),
        ("fade:x", "invalid transition 'fade:x': expected KIND:SECONDS, e.g. fade:0.5"),
        ("fade:0", "transition 'fade:0' needs a length above 0 seconds (or use none)"),
        ("fade:61", "transition 'fade:61' is longer than 60 s"),
        ("Fade", "unknown transition 'Fade' (did you mean 'fade'?)"),
        ("{kind: fade, duration: 0}", "a fade transition needs a duration above 0 seconds"),
        ("{kind: swirl}", "unknown value 'swirl': expected one of none, crossfade, fade"),
        ("{duration: 1}", "missing key 'kind'"),
        ("3", "expected a transition: KIND[:SECONDS] (e.g. fade:0.5) or {kind, duration}, "
              "got a number"),
    ],
)
def test_bad_transitions_are_explained(value: str, message: str) -> None:
    found = problems(f"version: 1\ntimeline:\n  - media: a.mp4\n    transition: {value}\n")
    assert len(found) == 1
    assert found[0].startswith("s.yaml:4:"), found
    assert message in found[0]


@pytest.mark.parametrize(
    ("value", "gain"),
    [("0", 0.0), ("4", 4.0), ("-6dB", 10 ** (-6 / 20)), ("+12 dB", 10 ** (12 / 20)),
     ("-inf dB", 0.0), ("0db", 1.0)],
)
def test_volume_is_a_gain_or_decibels(value: str, gain: float) -> None:
    text = f"version: 1\ntimeline:\n  - media: a.mp4\n    volume: {value}\n"
    item = load_text(text, "s.yaml", base_dir=Path("/x")).spec.timeline[0]
    assert item.volume == pytest.approx(gain)


@pytest.mark.parametrize(
    ("value", "message"),
    [("4.5", "expected a number from 0 to 4, got 4.5"),
     ("-1", "expected a number from 0 to 4, got -1"),
     ("+13dB", "volume +13dB is above the maximum of +12.0dB (a gain of 4)"),
     ("loud", "invalid volume 'loud': expected a gain from 0 to 4 or decibels like -6dB"),
     (".nan", "expected a number from 0 to 4, got nan")],
)
def test_bad_volumes(value: str, message: str) -> None:
    text = f"version: 1\ntimeline:\n  - media: a.mp4\n    volume: {value}\n"
    assert problems(text) == [f"s.yaml:4:13: {message}"]


def test_cross_field_rules_point_at_the_field() -> None:
    text = """\
version: 1
output: {format: gif, fps: 60}
timeline:
  - media: a.mp4
    trim_start: 3
    trim_end: 2
  - title: T
    duration: 1
    fade_in: 0.75
    fade_out: 0.5
    text: [{text: late, at: 1}]
"""
    assert problems(text) == [
        "s.yaml:2:28: gif supports at most 50 fps, got 60",
        "s.yaml:6:15: trim_end (2) must be after trim_start (3)",
        "s.yaml:10:15: fade_in (0.75 s) and fade_out (0.5 s) together exceed the item's 1 s",
        "s.yaml:11:11: a text starts at 1 s, after the item's 1 s",
    ]


def test_structure_problems() -> None:
    text = """\
timeline:
  - medai: a.mp4
  - media: a.mp4
    title: both
  - media: a.mp4
    media: b.mp4
  - just text
music: {media: a.mp3}
"""
    assert problems(text) == [
        "s.yaml:1:1: missing key 'version'",
        "s.yaml:2:5: expected a timeline item: {media: PATH, ...} or {title: TEXT, ...}: "
        "no media: or title: key (did you mean 'media'?)",
        "s.yaml:3:5: an item is either media: or title:, not both",
        "s.yaml:6:5: duplicate key 'media' (first at line 5)",
        "s.yaml:7:5: expected a timeline item: {media: PATH, ...} or {title: TEXT, ...}, "
        "got text",
        "s.yaml:8:8: expected a list, got a mapping",
    ]


def test_version_and_empty_documents() -> None:
    assert problems("version: 2\ntimeline: [{title: x}]\n") == [
        "s.yaml:1:10: unsupported version 2: this rendercli reads spec version 1"]
    assert problems("version: 1\ntimeline: []\n") == ["s.yaml:2:11: needs at least 1 item"]
    assert problems("") == [
        "s.yaml:1:1: the file is empty: expected a spec starting with version: 1"]
    assert problems("# only a comment\n") == [
        "s.yaml:1:1: the file is empty: expected a spec starting with version: 1"]
    assert problems("- a\n- b\n") == [
        "s.yaml:1:1: expected a mapping (version, project, output, fit, timeline, music), got a "
        "list"]


def test_text_rules() -> None:
    long = "x" * 2001
    text = f"""\
version: 1
timeline:
  - title: "  "
  - title: {long}
  - title: "a\\0b"
  - title: 2024-05-01
  - media: a.mp4
    text: ["{{{{ a.b }}}}", "{{{{ open"]
  - media: a.mp4
    motion: "{{{{ m }}}}"
"""
    found = problems(text)
    assert found == [
        "s.yaml:3:12: must not be empty",
        "s.yaml:4:12: is 2001 characters; at most 2000 are allowed",
        "s.yaml:5:12: must not contain NUL characters",
        "s.yaml:6:12: expected text, got a date (quote it to make it text)",
        "s.yaml:8:12: malformed placeholder '{{ a.b }}': write {{ name }} with a field name "
        "(letters, digits, _); expressions, filters and dots are not supported",
        "s.yaml:8:25: unclosed placeholder '{{ open': close it with }} or write {{{{ for a "
        "literal {{",
        "s.yaml:10:13: unknown value '{{ m }}': expected one of zoom-in, zoom-out, pan-left, "
        "pan-right",
    ]


def test_json_specs_have_json_semantics_and_positions() -> None:
    text = ('{\n\t"version": 1,\n\t"timeline": [\n\t\t{"media": "a.mp4", "volume": 1e0,'
            ' "fade_in": 5E-1, "text": ["\\ud83d\\ude00"]}\n\t]\n}\n')
    item = load_text(text, "s.json", base_dir=Path("/x"), syntax="json").spec.timeline[0]
    assert (item.volume, item.fade_in, item.text[0].text) == (1.0, 0.5, "\U0001f600")
    bad = ('{"version": 1,\n "timeline": [{"media": "a.mp4", "fade_in": NaN,\n'
           '  "volume": 1e999, "medai": 1, "text": ["\\ud800"]}]}')
    assert problems(bad, "json") == [
        "s.json:2:45: invalid JSON: NaN is not a number JSON allows",
        "s.json:3:13: invalid JSON: a number too large",
        "s.json:3:20: unknown key 'medai' (did you mean 'media'?): expected one of media, "
        "duration, trim_start, trim_end, transition, volume, fade_in, fade_out, mute, motion, "
        "fit, text",
        "s.json:3:41: invalid JSON: a string with an unpaired surrogate (\\ud800-\\udfff)",
    ]
    assert problems('{"version": 1,\n "timeline": [}', "json") == [
        "s.json:2:15: invalid JSON: Expecting value"]
    assert problems('{"version": 1, "version": 1, "timeline": [{"title": "x"}]}', "json") == [
        "s.json:1:16: duplicate key 'version' (first at line 1)"]


def test_yaml_safety_limits() -> None:
    laughs = "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for n in range(1, 8):
        laughs += f"{'abcdefgh'[n]}: &{'abcdefgh'[n]} [" + ", ".join(
            [f"*{'abcdefgh'[n - 1]}"] * 10) + "]\n"
    found = problems(laughs + "timeline: [{title: x}]\n")
    assert any(p.endswith(": too many values (over 200,000; aliases repeating a large part?)")
               for p in found)
    deep = problems("version: 1\ntimeline: " + "[" * 100 + "]" * 100 + "\n")
    assert "s.yaml:2:75: nested too deeply" in deep
    assert problems("version: !!python/object:os.system x\ntimeline: [{title: x}]\n")[0] == (
        "s.yaml:1:10: unsupported value (could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object:os.system')")
    assert "s.yaml:2:1: merge keys (<<) are not supported: write the keys out" in problems(
        "version: 1\n<<: {timeline: [{title: x}]}\n")


def test_files_are_read_with_their_name_in_every_problem(tmp_path: Path) -> None:
    spec = tmp_path / "video.yml"
    spec.write_bytes(b"\xef\xbb\xbfversion: 1\r\ntimeline:\r\n  - title: Hi\r\n")
    assert load_spec(spec).spec.timeline == (TitleCard(title="Hi"),)
    spec.write_bytes(b"version: 1\ntimeline:\n  - title: caf\xe9\n")
    with pytest.raises(SpecInvalid) as caught:
        load_spec(spec, "video.yml")
    assert [str(p) for p in caught.value.problems] == [
        "video.yml:3:15: the file is not UTF-8 text"]
    with pytest.raises(SpecInvalid) as caught:
        load_spec(tmp_path / "missing.yaml", "missing.yaml")
    assert [str(p) for p in caught.value.problems] == ["missing.yaml: no such file"]
    (tmp_path / "empty.json").write_bytes(b"")
    with pytest.raises(SpecInvalid) as caught:
        load_spec(tmp_path / "empty.json", "empty.json")
    assert [str(p) for p in caught.value.problems] == ["empty.json:1:1: the file is empty"]


def test_a_duplicate_key_does_not_hide_the_other_problems_of_its_mapping() -> None:
    text = "version: 1\ntimeline:\n  - media: a.mp4\n    media: b.mp4\n    volume: 9\n"
    assert problems(text) == [
        "s.yaml:4:5: duplicate key 'media' (first at line 3)",
        "s.yaml:5:13: expected a number from 0 to 4, got 9",
    ]
