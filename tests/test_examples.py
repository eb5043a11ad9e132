"""The worked example in examples/greetings, end to end on both databases."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Account

pytestmark = pytest.mark.any_database  # see tests/conftest.py

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "greetings"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example with its media made by its own script."""
    folder = tmp_path_factory.mktemp("example") / "greetings"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("*.mp4", "*.png", "*.mp3"))
    made = subprocess.run([sys.executable, str(folder / "make_media.py")], capture_output=True,
                          text=True, check=True)
    assert [Path(line).name for line in made.stdout.splitlines()] == [
        "intro.mp4", "photo.png", "song.mp3"]
    return folder


def test_the_example_validates(alice: Account, example: Path) -> None:
    result = alice.ok("spec", "validate", str(example / "video.yaml"), "--data",
                      str(example / "rows.csv"))
    assert "valid (3 timeline items; 1 music; 3 data rows)" in result.stdout


@pytest.mark.slow
def test_the_example_renders_one_video_per_row(
    alice: Account, example: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = alice.ok("render", "batch", str(example / "video.yaml"), "--data",
                      str(example / "rows.csv"), "--name-field", "name", "--output-dir",
                      str(out), "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["row"], r["name"], r["status"]) for r in rows] == [
        (1, "Ana", "completed"), (2, "Bo", "completed"), (3, "Céu", "completed")]
    assert sorted(p.name for p in out.iterdir()) == [
        "greeting-Ana.mp4", "greeting-Bo.mp4", "greeting-Céu.mp4"]
    status = json.loads(alice.ok("jobs", "status", rows[0]["job_id"], "--json").stdout)
    # title 2 s + clip 3 s + still 2 s, less two 0.5 s fades
    assert status["output_duration"] == pytest.approx(6.0, abs=0.05)
    assert status["project_name"] == "greeting-Ana"
