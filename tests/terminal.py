"""Run the real `rendercli` executable on a pseudo-terminal, like a person typing."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path


def _controlling_tty() -> None:
    # Make the pty the child's controlling terminal, so getpass really turns echo off.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def rendercli_executable() -> str:
    """The console script installed next to this Python (pip install -e .)."""
    path = Path(sys.executable).parent / "rendercli"
    if not path.exists():
        raise RuntimeError(f"{path} not found: install the package (pip install -e '.[test]')")
    return str(path)


def set_window_size(fd: int, rows: int, columns: int) -> None:
    """Give a terminal a size, as a terminal emulator window does (TIOCSWINSZ)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class Terminal:
    def __init__(self, *args: str, env: dict[str, str] | None = None,
                 columns: int | None = None, rows: int = 40) -> None:
        self.master, slave = pty.openpty()
        if columns is not None:
            set_window_size(slave, rows, columns)
            # The window's size, not a COLUMNS/LINES override, decides the layout.
            env = {k: v for k, v in (env or os.environ).items() if k not in ("COLUMNS", "LINES")}
        self.proc = subprocess.Popen(
            [rendercli_executable(), *args], stdin=slave, stdout=slave, stderr=slave,
            env=env or dict(os.environ), close_fds=True, preexec_fn=_controlling_tty,
        )
        os.close(slave)
        self.output = ""

    def expect(self, text: str, timeout: float = 20.0, *, after: int = 0) -> str:
        """Wait until `text` appears (in the output from offset `after` on)."""
        deadline = time.monotonic() + timeout
        while text not in self.output[after:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} not seen; output so far: {self.output!r}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"exited before {text!r}: {self.output!r}")
                self.output += chunk.decode(errors="replace")
        return self.output

    def expect_secret_prompt(self, text: str, timeout: float = 20.0, *, after: int = 0) -> None:
        """Wait for a prompt AND for the terminal's echo to be switched off for it."""
        self.expect(text, timeout, after=after)
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.master)[3] & termios.ECHO:
            if time.monotonic() > deadline:
                raise AssertionError(f"echo never switched off at {text!r}")
            time.sleep(0.01)

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:  # keep reading: a full pty would block the writer
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.proc.args, timeout)
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.master, 65536).decode(errors="replace")
        code = self.proc.returncode
        while True:  # drain what is left
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.output += chunk.decode(errors="replace")
        os.close(self.master)
        return code
