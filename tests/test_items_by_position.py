"""Items addressed as PROJECT:N (their timeline position) wherever an ASSET is taken."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Account
from tests.media_factory import make_audio, make_image, make_video
from tests.terminal import rendercli_executable


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("position-media")
    return {"clip": make_video(d / "clip.mp4", duration=1.0, size=(160, 120)),
            "still": make_image(d / "still.png", size=(160, 120)),
            "song": make_audio(d / "song.mp3", duration=1.0)}


@pytest.fixture
def film(alice: Account, media: dict[str, Path]) -> list[dict]:
    alice.ok("project", "create", "film")
    alice.ok("asset", "add", "film", str(media["clip"]), str(media["still"]))
    alice.ok("title", "add", "film", "Hello", "--duration", "1")
    alice.ok("asset", "add", "film", str(media["song"]))
    return json.loads(alice.ok("asset", "list", "film", "--json").stdout)["assets"]


def test_every_asset_command_takes_a_position(alice: Account, film: list[dict]) -> None:
    ids = [a["id"] for a in film]
    shown = json.loads(alice.ok("asset", "show", "film:2", "--json").stdout)
    assert (shown["id"], shown["kind"]) == (ids[1], "image")
    alice.ok("asset", "update", "film:2", "--duration", "2.5")
    assert json.loads(alice.ok("asset", "show", ids[1], "--json").stdout)[
        "timeline_duration"] == 2.5
    alice.ok("title", "update", "film:3", "Goodbye")
    assert json.loads(alice.ok("asset", "show", ids[2], "--json").stdout)["title"][
        "text"] == "Goodbye"
    alice.ok("text", "add", "film:1", "Caption")
    [text] = json.loads(alice.ok("text", "list", "film:1", "--json").stdout)
    assert text["text"] == "Caption"
    # By project id too, and positions follow the timeline after a removal.
    project_id = film[0]["project_id"]
    alice.ok("asset", "remove", f"{project_id}:1")
    after = json.loads(alice.ok("asset", "list", "film", "--json").stdout)["assets"]
    assert [a["id"] for a in after] == ids[1:]
    assert json.loads(alice.ok("asset", "show", "film:1", "--json").stdout)["id"] == ids[1]


@pytest.mark.parametrize(("ref", "message"), [
    ("film:9", "error: project film has 4 items; 9 is not one of them (see `rendercli asset "
               "list film`)\n"),
    ("film:0", "error: project film has 4 items; 0 is not one of them (see `rendercli asset "
               "list film`)\n"),
    ("nope:1", "error: project not found: nope\n"),
])
def test_a_position_that_is_not_there_is_one_line_exit_3(
        alice: Account, film: list[dict], ref: str, message: str) -> None:
    result = alice("asset", "show", ref)
    assert (result.exit_code, result.stderr) == (3, message)


def test_another_users_project_is_not_found(alice: Account, bob: Account,
                                            film: list[dict]) -> None:
    for args in (["asset", "show", "film:1"], ["asset", "remove", "film:1"],
                 ["asset", "update", "film:1", "--mute"]):
        result = bob(*args)
        assert (result.exit_code, result.stderr) == (3, "error: project not found: film\n")
    project_id = film[0]["project_id"]
    assert bob("asset", "show", f"{project_id}:1").exit_code == 3
    assert len(json.loads(alice.ok("asset", "list", "film", "--json").stdout)["assets"]) == 4


def _complete(words: str, token: str) -> list[str]:
    env = {**os.environ, "RENDERCLI_TOKEN": token, "_RENDERCLI_COMPLETE": "complete_fish",
           "_TYPER_COMPLETE_FISH_ACTION": "get-args", "_TYPER_COMPLETE_ARGS": words}
    done = subprocess.run([rendercli_executable()], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_completion_offers_position_name_and_kind(alice: Account, bob: Account,
                                                  film: list[dict]) -> None:
    offered = _complete("rendercli asset update film:", alice.token)
    # fish shows the description after a tab
    assert offered == ["film:1\t1  clip.mp4  video", "film:2\t2  still.png  image",
                       "film:3\t3  Hello  title", "film:4\t4  song.mp3  audio"]
    assert _complete("rendercli asset show film:3", alice.token) == [
        "film:3\t3  Hello  title"]
    assert _complete("rendercli asset show fi", alice.token)[0].startswith("film:\t")
    assert _complete("rendercli asset show film:", bob.token) in ([], [""])  # not bob's
