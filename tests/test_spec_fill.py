"""A spec filled in from a data row: final texts, escapes resolved, untouched parts shared."""

from __future__ import annotations

from pathlib import Path

from rendercli.specfile.fill import fill, template_sites
from rendercli.specfile.loader import load_text
from rendercli.specfile.model import TextOverlay

SPEC = """\
version: 1
output: {name: "{{ name }}.mp4"}
timeline:
  - title: "Hello {{ name }}, {{{{ literal }}"
  - media: "photos/{{ photo }}"
    text: ["{{ name }} in {{ city }}", {text: "plain"}]
  - media: intro.mp4
music:
  - media: "a{{{{b.mp3"
"""


def test_a_row_fills_every_placeholder_and_only_those_objects_change() -> None:
    loaded = load_text(SPEC, "s.yaml", base_dir=Path("/x"))
    sites = template_sites(loaded.spec)
    assert [(s.path, s.fields) for s in sites] == [
        (("output", "name"), ("name",)),
        (("timeline", 0, "title"), ("name",)),
        (("timeline", 1, "media"), ("photo",)),
        (("timeline", 1, "text", 0, "text"), ("name", "city")),
        (("music", 0, "media"), ()),
    ]
    problems: list[tuple[object, str]] = []
    row = {"name": "Ana", "photo": "ana.jpg", "city": "{{ name }}"}
    spec = fill(loaded, sites, row, lambda where, msg: problems.append((where, msg)))
    assert problems == []
    assert spec is not None
    assert spec.output.name == "Ana.mp4"
    assert spec.timeline[0].title == "Hello Ana, {{ literal }}"
    assert spec.timeline[1].media == "photos/ana.jpg"
    assert spec.timeline[1].text == (TextOverlay(text="Ana in {{ name }}"),
                                     TextOverlay(text="plain"))
    assert spec.music[0].media == "a{{b.mp3"
    assert spec.timeline[2] is loaded.spec.timeline[2]  # nothing to fill: shared
    assert loaded.position(("timeline", 1, "text", 0, "text")) == loaded.position(
        ("timeline", 1, "text", 0))


def test_missing_values_and_bad_results_are_reported_per_site() -> None:
    loaded = load_text(SPEC, "s.yaml", base_dir=Path("/x"))
    problems: list[tuple[object, str]] = []
    spec = fill(loaded, template_sites(loaded.spec),
                {"name": "a/b", "photo": "", "city": "x"},
                lambda where, msg: problems.append((where, msg)))
    assert spec is None
    assert problems == [
        (("output", "name"), "output name 'a/b.mp4' must be a file name without folders"),
        (("timeline", 1, "media"), "no value for {{ photo }}"),
    ]
