"""Object ids: cuid2 strings, never sequential integers."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _generator() -> Any:
    from cuid2 import Cuid

    return Cuid(length=24)


def new_id() -> str:
    return str(_generator().generate())
