"""ffmpeg dies with the process that started it, and is started without a preexec_fn.

A `preexec_fn` runs Python in a child forked while other threads run (the job monitor,
the pipe readers), which Python documents as able to deadlock. runner.py starts ffmpeg
through rendercli/render/pdeathsig_exec.py instead, which sets PR_SET_PDEATHSIG and execs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rendercli.render import parent_death
from tests.farm import wait_for
from tests.processes import processes_with, wait_until_gone

pytestmark = pytest.mark.skipif(not parent_death.is_supported(),
                                reason="PR_SET_PDEATHSIG is Linux-only")


def _python(code: str, **kwargs) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], text=True,
                            stdout=subprocess.PIPE, **kwargs)


def test_no_python_runs_in_the_forked_child() -> None:
    """Fork hooks run only when Python code runs between fork and exec (a preexec_fn)."""
    proc = _python("""
        import os, time
        forks = []
        os.register_at_fork(before=lambda: forks.append(1))
        from rendercli.media.ffmpeg_binary import ffmpeg_path
        from rendercli.render.runner import FfmpegProcess
        ffmpeg = FfmpegProcess([ffmpeg_path(), "-hide_banner", "-version"])
        ffmpeg.start()
        while (code := ffmpeg.poll()) is None:
            time.sleep(0.01)
        print(code, len(forks))
    """)
    out, _ = proc.communicate(timeout=60)
    assert out.split() == ["0", "0"], out


def test_ffmpeg_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    marker = str(tmp_path / "orphan-check")
    # ffmpeg writes nothing (-loglevel quiet, no progress), so the pipes its dead parent
    # leaves behind cannot stop it: only the parent-death signal can.
    parent = _python(f"""
        import threading, time
        from rendercli.media.ffmpeg_binary import ffmpeg_path
        from rendercli.render.runner import FfmpegProcess
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
        ffmpeg = FfmpegProcess([ffmpeg_path(), "-nostdin", "-nostats", "-loglevel", "quiet",
                                "-re", "-f", "lavfi", "-i",
                                "testsrc=size=320x240:rate=25:duration=600", "-f", "null",
                                {marker!r}])
        ffmpeg.start()
        print(ffmpeg.pid, flush=True)
        time.sleep(3600)
    """)
    try:
        assert parent.stdout is not None
        ffmpeg_pid = int(parent.stdout.readline())
        wait_for(lambda: processes_with(marker) == [ffmpeg_pid], 30, "ffmpeg to start")
        os.kill(parent.pid, signal.SIGKILL)  # the parent only; nobody signals ffmpeg
        parent.wait(10)
        assert wait_until_gone(marker, 10.0) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


def test_the_wrapper_runs_nothing_once_its_parent_is_gone(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    argv = parent_death.wrap(["touch", str(canary)])
    assert argv[-2:] == ["touch", str(canary)] and argv[4] == str(os.getpid())
    argv[4] = "1"  # as if the starting process had died and init had adopted the wrapper
    assert subprocess.run(argv, check=False).returncode == 126
    assert not canary.exists()
    assert subprocess.run(parent_death.wrap(["touch", str(canary)]), check=False).returncode == 0
    assert canary.exists()


def test_the_wrapper_reports_a_missing_program(tmp_path: Path) -> None:
    result = subprocess.run(parent_death.wrap([str(tmp_path / "no-such-ffmpeg")]),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 127 and "cannot run" in result.stderr
