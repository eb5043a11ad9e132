"""Run the real rendercli CLI in this process with bcrypt's two functions counted.

    python -m tests.bcrypt_counter COUNTS.json rendercli-args...

Each call is appended to COUNTS.json as [function, cost] when the process exits: what a
login costs in bcrypt work, counted instead of timed.
"""

from __future__ import annotations

import atexit
import json
import sys
from pathlib import Path

import bcrypt

calls: list[tuple[str, int]] = []


def _cost(hashed_or_salt: bytes) -> int:
    return int(hashed_or_salt.split(b"$")[2])


def _counted(name: str, real):  # type: ignore[no-untyped-def]
    def wrapper(password: bytes, hashed_or_salt: bytes) -> object:
        calls.append((name, _cost(hashed_or_salt)))
        return real(password, hashed_or_salt)

    return wrapper


def main() -> None:
    out = sys.argv[1]
    bcrypt.checkpw = _counted("checkpw", bcrypt.checkpw)
    bcrypt.hashpw = _counted("hashpw", bcrypt.hashpw)
    atexit.register(lambda: Path(out).write_text(json.dumps(calls)))
    sys.argv = ["rendercli", *sys.argv[2:]]
    from rendercli.cli.main import run

    run()


if __name__ == "__main__":
    main()
