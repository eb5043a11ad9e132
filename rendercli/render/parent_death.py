"""Tie a child process's life to its parent's (Linux `PR_SET_PDEATHSIG`).

If a render worker is SIGKILLed, nothing runs its cleanup: its work horse and the
horse's ffmpeg would live on as orphans, rendering a job that is about to be handed to
another worker. With a parent-death signal the kernel kills them instead.

The work horse sets it on itself right after RQ forks it (`die_with_parent`). ffmpeg is
started through a small exec wrapper (`wrap`, pdeathsig_exec.py) rather than a
`preexec_fn`, which can deadlock a child forked while other threads run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1

_prctl = None
if sys.platform.startswith("linux"):
    try:  # resolved at import, so the forked child only makes one C call
        _prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        _prctl = None


def die_with_parent(expected_parent: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent exits.

    Call it in a freshly forked child. If `expected_parent` is given and the parent has
    already gone, exit at once (the signal would never come).
    """
    if _prctl is None:
        return
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)


def is_supported() -> bool:
    return _prctl is not None


WRAPPER = Path(__file__).with_name("pdeathsig_exec.py")


def wrap(argv: Sequence[str]) -> list[str]:
    """`argv` run so that the kernel kills it when this process dies (where supported).

    The wrapper starts Python without `site` and then execs the program (about 10 ms).
    """
    if _prctl is None or not sys.executable:
        return list(argv)
    return [sys.executable, "-I", "-S", str(WRAPPER), str(os.getpid()), *argv]
