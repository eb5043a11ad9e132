"""`--set FIELD=VALUE`: the issue's own example, with its placeholder, applied and rendered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Account, Cli
from tests.media_factory import make_audio, make_image, make_video
from tests.test_spec_loader import ISSUE_EXAMPLE as EXAMPLE  # the issue's, as written


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("set-media")
    make_video(folder / "intro.mp4", duration=3.5, size=(160, 120))
    make_image(folder / "photo.png", size=(160, 120))
    make_audio(folder / "song.mp3", duration=2.0)
    return folder


@pytest.fixture
def spec(tmp_path: Path, media: Path) -> Path:
    folder = tmp_path / "hello"
    shutil.copytree(media, folder)
    (folder / "video.yaml").write_text(EXAMPLE, encoding="utf-8")
    return folder / "video.yaml"


def test_the_issues_example_applies_with_set(alice: Account, spec: Path) -> None:
    result = alice.ok("apply", str(spec), "--set", "name=Ana", "--json")
    assert json.loads(result.stdout)["applied"] is True
    items = json.loads(alice.ok("asset", "list", "video", "--json").stdout)["assets"]
    assert items[0]["title"]["text"] == "Hello Ana"
    # Another value is an update of the title, nothing else.
    plan = json.loads(alice.ok("apply", str(spec), "--set", "name=Bo", "--json").stdout)
    assert [(op["op"], op["kind"]) for op in plan["ops"]] == [("update", "title")]
    unchanged = alice.ok("apply", str(spec), "--set", "name=Bo")
    assert unchanged.stdout == "no changes: project video matches the spec\n"


def test_a_placeholder_without_a_value_names_set(alice: Account, spec: Path) -> None:
    result = alice("apply", str(spec))
    assert result.exit_code == 2
    assert (f"{spec}:4:12: no value for {{{{ name }}}}: give it with --set name=VALUE"
            in result.stderr)
    assert result.stderr.endswith("1 problem found; nothing was changed\n")
    submitted = alice("render", "submit", "--spec", str(spec))
    assert submitted.exit_code == 2 and "--set name=VALUE" in submitted.stderr
    assert json.loads(alice.ok("project", "list", "--json").stdout) == []


def test_a_set_field_the_spec_does_not_use_is_an_error(alice: Account, spec: Path) -> None:
    result = alice("apply", str(spec), "--set", "name=Ana", "--set", "nme=Bo")
    assert result.exit_code == 2
    assert "--set nme: the spec has no placeholder {{ nme }} (its placeholders: name)" in (
        result.stderr)
    assert json.loads(alice.ok("project", "list", "--json").stdout) == []


@pytest.mark.parametrize(("given", "said"), [
    ("name", "--set 'name': expected FIELD=VALUE\n"),
    ("=Ana", "--set '=Ana' has no field name"),
    ("1st=Ana", "--set '1st=Ana' field '1st' is not a name"),
    ("na me=Ana", "field 'na me' is not a name"),
    ("name=", "--set 'name=': the value is empty\n"),
])
def test_bad_set_shapes_are_one_line_exit_2(cli: Cli, spec: Path, given: str,
                                            said: str) -> None:
    for args in (["apply", str(spec)], ["render", "submit", "--spec", str(spec)],
                 ["spec", "validate", str(spec)]):
        result = cli(*args, "--set", given)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and said in result.stderr, result.stderr
    twice = cli("apply", str(spec), "--set", "name=a", "--set", "name=b")
    assert twice.exit_code == 2 and "--set name= is given twice" in twice.stderr


def test_spec_validate_checks_with_set_values(cli: Cli, spec: Path) -> None:
    ok = cli.ok("spec", "validate", str(spec), "--set", "name=Ana")
    assert "placeholders name filled from --set" in ok.stdout
    too_long = cli("spec", "validate", str(spec), "--set", "name=" + "x" * 2100)
    assert too_long.exit_code == 2 and f"{spec}:4:12: title is " in too_long.stderr
    both = cli("spec", "validate", str(spec), "--set", "name=a", "--data", str(spec))
    assert both.exit_code == 2 and "give --set or --data, not both" in both.stderr


@pytest.mark.slow
def test_render_submit_spec_with_set_renders_the_example(alice: Account, spec: Path,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "hello.mp4"
    result = alice.ok("render", "submit", "--spec", str(spec), "--set", "name=Ana",
                      "--fps", "10", "--quality", "draft",
                      "--output", str(out), "--json")
    job = json.loads(result.stdout)
    assert job["status"] == "completed" and out.stat().st_size > 0
    items = json.loads(alice.ok("asset", "list", "video", "--json").stdout)["assets"]
    assert items[0]["title"]["text"] == "Hello Ana"
