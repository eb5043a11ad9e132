"""Run a program that the kernel kills when the process that started it dies.

    python -I -S pdeathsig_exec.py PARENT_PID PROGRAM [ARG...]

sets PR_SET_PDEATHSIG (SIGKILL) on itself, checks that PARENT_PID is still its parent
(if it died first, the signal would never come), then execs PROGRAM, which keeps the
setting. runner.py starts ffmpeg through it instead of calling prctl in a `preexec_fn`,
which Python documents as unsafe while other threads run (the child can deadlock).

Standard library only, run without `site` (-S), so it starts in about 10 ms.
"""

import ctypes
import os
import sys

PR_SET_PDEATHSIG = 1
SIGKILL = 9
EXIT_SETUP_FAILED = 126  # like a shell: the program could not be started


def main(argv: list[str]) -> None:
    if len(argv) < 3 or not argv[1].isdigit():
        sys.stderr.write("usage: pdeathsig_exec.py PARENT_PID PROGRAM [ARG...]\n")
        os._exit(EXIT_SETUP_FAILED)
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0:
        sys.stderr.write(f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}\n")
        os._exit(EXIT_SETUP_FAILED)
    if os.getppid() != int(argv[1]):  # the parent is already gone: do not start at all
        os._exit(EXIT_SETUP_FAILED)
    try:
        os.execvp(argv[2], argv[2:])  # searches PATH like subprocess does
    except OSError as exc:
        sys.stderr.write(f"cannot run {argv[2]}: {exc.strerror}\n")
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv)
