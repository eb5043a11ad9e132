"""Filter-graph strings built by hand, with one escaping rule for every option value.

ffmpeg reads a ``-filter_complex`` graph in two passes, each with ``av_get_token``: the
graph parser splits filters on ``[],;`` and the filter's option parser then splits
``key=value`` pairs on ``:`` and ``=``. Each pass removes one level of backslash escapes
and quotes, and trims unescaped whitespace at both ends. So a value is escaped twice,
once per pass, with a backslash before every character that is not plainly safe.

Values that must carry user text never go through here (libass and drawtext read them
from a file); this is for paths and our own expressions.
"""

from __future__ import annotations

import re

_SAFE = re.compile(r"[A-Za-z0-9_./+@%-]")


def _escape_level(text: str) -> str:
    # Non-ASCII characters are never special to ffmpeg's tokenizer (it works on bytes and
    # only looks at ASCII): they pass through as they are.
    return "".join(ch if ch >= "\x80" or _SAFE.fullmatch(ch) else "\\" + ch for ch in text)


def escape_value(value: object) -> str:
    """``value`` escaped for use as a filter option value inside a filter graph.

    Raises ValueError for a NUL character, which no argv can carry.
    """
    text = str(value)
    if "\x00" in text:
        raise ValueError("filter option values cannot contain NUL characters")
    return _escape_level(_escape_level(text))


def filter_spec(name: str, *args: object, **options: object) -> str:
    """``name=arg:arg:key=value...`` with every argument and value escaped.

    Option names are ours (Python identifiers); a trailing underscore is dropped so
    reserved words can be used (``in_=``).
    """
    params = [escape_value(a) for a in args]
    params += [f"{k.rstrip('_')}={escape_value(v)}" for k, v in options.items()
               if v is not None]
    return f"{name}={':'.join(params)}" if params else name


def chain(*filters: str) -> str:
    """Filters applied one after another (a comma-separated chain)."""
    return ",".join(f for f in filters if f)


class Graph:
    """A filter graph under construction: numbered labels and ``;``-joined chains."""

    def __init__(self) -> None:
        self._chains: list[str] = []
        self._count = 0

    def label(self, prefix: str = "s") -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def add(self, inputs: list[str], filters: str, outputs: list[str] | None = None) -> str:
        """Append ``[in]...filters[out]``; returns the first output label (made if needed)."""
        outs = outputs or [self.label()]
        self._chains.append("".join(f"[{i}]" for i in inputs) + filters
                            + "".join(f"[{o}]" for o in outs))
        return outs[0]

    def __str__(self) -> str:
        return ";".join(self._chains)
