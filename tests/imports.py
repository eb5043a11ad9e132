"""Which modules a CLI invocation loads, measured in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys


def modules_loaded_by(argv: list[str], candidates: list[str]) -> list[str]:
    """The `candidates` present in sys.modules after running `rendercli *argv` in-process."""
    code = (
        "import sys\n"
        "from rendercli.cli.main import app\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {candidates!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    return eval(proc.stdout.strip().splitlines()[-1])  # a printed list of str
