"""`rendercli demo`: the README's main job, as a real process with nothing set up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import av
import pytest

from tests.terminal import rendercli_executable

pytestmark = pytest.mark.slow


def test_demo_renders_twice_with_no_setup(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERCLI_")}
    env["RENDERCLI_DATA_DIR"] = str(tmp_path / "fresh")
    env["RENDERCLI_CONFIG_DIR"] = str(tmp_path / "fresh-config")
    out = tmp_path / "demo.mp4"

    first = subprocess.run([rendercli_executable(), "demo"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Rendered demo in ")
    rendered = Path(first.stdout.strip().rsplit(": ", 1)[1])
    with av.open(str(rendered)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        assert container.streams.audio[0].codec_context.sample_rate == 48000
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 300  # 4 s + 3 s still + 3 s at 30 fps

    second = subprocess.run([rendercli_executable(), "demo", "--output", str(out)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "(cache hit)" in second.stdout
    assert out.read_bytes() == rendered.read_bytes()  # the first video is still there
    # The demo session works for exploring, through the normal auth path.
    token = next(line.split("=", 1)[1].split()[0] for line in second.stderr.splitlines()
                 if "RENDERCLI_TOKEN=" in line)
    listed = subprocess.run([rendercli_executable(), "asset", "list", "demo"], text=True,
                            capture_output=True, env={**env, "RENDERCLI_TOKEN": token})
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 4
