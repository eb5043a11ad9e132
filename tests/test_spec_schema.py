"""The published JSON Schema: generated, shipped up to date, and right about examples."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from rendercli.specfile.loader import load_text
from rendercli.specfile.problems import SpecInvalid
from rendercli.specfile.schema import schema_text, spec_schema
from tests.test_spec_loader import ISSUE_EXAMPLE

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "docs" / "spec.schema.json"

FULL_EXAMPLE = """\
version: 1
project: "trip {{ who }}"
output: {preset: 1080p, format: webm, fps: 25, quality: high, loudness: -14,
         name: "trip-{{ who }}.webm"}
timeline:
  - title: Welcome
    background: "#102030"
    size: small
    transition: {kind: wipeleft, duration: 0.25}
  - media: clip.mov
    trim_start: 1
    volume: -6dB
    transition: dissolve:0.5
    text: ["Lower third", {text: "Hi {{ who }}", at: 1, for: 2, placement: top}]
  - media: still.png
    motion: pan-left
music:
  - {media: bed.mp3, volume: 0.5, fade_out: 2, duck: true}
"""


def validator() -> jsonschema.protocols.Validator:
    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_shipped_schema_is_up_to_date() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == schema_text(), (
        "docs/spec.schema.json is stale: run `rendercli spec schema > docs/spec.schema.json`")


def test_the_format_reference_names_every_key() -> None:
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    for name, definition in spec_schema()["$defs"].items():
        for key in definition.get("properties", {}):  # objects (not Placeholder)
            assert f"`{key}`" in text, f"docs/spec.md does not describe {name}.{key}"
    for key in spec_schema()["properties"]:
        assert f"`{key}`" in text


def test_spec_schema_command_prints_it(cli) -> None:
    result = cli.ok("spec", "schema")
    assert json.loads(result.stdout) == spec_schema()
    assert json.loads(result.stdout)["$schema"] == (
        "https://json-schema.org/draft/2020-12/schema")


@pytest.mark.parametrize("text", [ISSUE_EXAMPLE, FULL_EXAMPLE])
def test_examples_are_valid_for_the_schema_and_the_loader(text: str) -> None:
    assert list(validator().iter_errors(yaml.safe_load(text))) == []
    load_text(text, "s.yaml", base_dir=Path("/x"))


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"extra": 1},
        {"timeline": []},
        {"timeline": [{"media": "a.mp4", "title": "both"}]},
        {"timeline": [{"media": "a.mp4", "trim_ned": 1}]},
        {"timeline": [{"media": "a.mp4", "transition": "fdae:0.5"}]},
        {"timeline": [{"media": "a.mp4", "transition": "fade:"}]},
        {"timeline": [{"media": "a.mp4", "volume": 4.5}]},
        {"timeline": [{"media": "a.mp4", "volume": "loud"}]},
        {"timeline": [{"media": "a.mp4", "motion": "spin"}]},
        {"timeline": [{"title": "x", "color": "#12345"}]},
        {"timeline": [{"title": ""}]},
        {"timeline": [{"title": "x", "text": [{"text": "y", "for": 0}]}]},
        {"output": {"fps": 30.5}},
        {"output": {"preset": "4k"}},
        {"music": [{"media": "a.mp3", "duck": "yes"}]},
    ],
)
def test_bad_specs_are_refused_by_both(change: dict) -> None:
    doc = {"version": 1, "timeline": [{"title": "x"}], **change}
    assert list(validator().iter_errors(doc)) != []
    with pytest.raises(SpecInvalid):
        load_text(json.dumps(doc), "s.json", base_dir=Path("/x"), syntax="json")


@pytest.mark.parametrize(
    "value",
    ["fade", "fade:0.5", "none", "none:0", "circleopen:.25", "wipeleft:2.", "fade:0",
     "fade:x", "fade:", "Fade", "fade:-1", "fade: 1", "fade:1e1", "-6dB", "+3 dB", "-inf dB",
     "6DB", "6 d B", "#a0B1c2", "gold", "Gold", "#abc", "0.5", "{{ v }}", "{{ v }}dB"],
)
def test_patterns_and_the_loader_agree_on_strings(value: str) -> None:
    """The schema accepts every string the loader accepts as a transition, a volume or a
    colour, and refuses the rest, except where only the loader can judge: a zero-length
    transition, and decibels above the volume limit."""
    check = validator()
    for item in ({"media": "a.mp4", "transition": value}, {"media": "a.mp4", "volume": value},
                 {"title": "x", "color": value}):
        doc = {"version": 1, "timeline": [item]}
        try:
            load_text(json.dumps(doc), "s.json", base_dir=Path("/x"), syntax="json")
            loader_ok = True
        except SpecInvalid:
            loader_ok = False
        schema_ok = check.is_valid(doc)
        if loader_ok:
            assert schema_ok, (item, "accepted by the loader, refused by the schema")
        elif value not in ("fade:0", "none:0"):
            assert not schema_ok, (item, "refused by the loader, accepted by the schema")
