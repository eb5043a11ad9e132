"""``{{ field }}`` placeholders: substitution only.

The language, whole:

- ``{{ name }}`` is replaced by the row's value for ``name``. Names are letters, digits
  and ``_``, not starting with a digit; spaces inside the braces are optional.
- ``{{{{`` writes a literal ``{{`` (so ``{{{{ name }}`` is the text ``{{ name }}``).
  Nothing else needs escaping: single braces and ``}}`` outside a placeholder are text.
- Anything else between ``{{`` and ``}}`` (``a.b``, ``x | upper``, ``1 + 2``) is an error,
  and so is a ``{{`` with no ``}}``. A name with no value in a row is an error that names it.

Why hand-written rather than Jinja's sandbox: we need substitution and nothing more, and
a template here comes from a file in someone's repository and is filled with rows from
another. Jinja's sandbox still evaluates expressions, filters, loops and attribute access
(it blocks the dangerous ones, and that list has needed fixes over the years), renders a
missing name as empty text unless configured otherwise, and would be a new dependency.
Forty lines that can only copy text cannot execute anything, and every error can say
exactly which placeholder is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from rendercli.errors import InvalidInput

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class TemplateError(ValueError):
    """A malformed placeholder."""


class MissingValue(KeyError):
    """A placeholder whose field has no value in the row."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Field:
    name: str


Part = str | Field


@lru_cache(maxsize=4096)
def parse(text: str) -> tuple[Part, ...]:
    """The literal text and placeholders of ``text``; TemplateError if one is malformed."""
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while True:
        j = text.find("{{", i)
        if j < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:j])
        if text.startswith("{{{{", j):
            literal.append("{{")
            i = j + 4
            continue
        end = text.find("}}", j + 2)
        if end < 0:
            raise TemplateError(f"unclosed placeholder {_excerpt(text[j:])}: "
                                "close it with }} or write {{{{ for a literal {{")
        inner = text[j + 2 : end].strip()
        if _NAME.fullmatch(inner) is None:
            raise TemplateError(
                f"malformed placeholder {_excerpt(text[j : end + 2])}: write {{{{ name }}}} "
                "with a field name (letters, digits, _); expressions, filters and dots are "
                "not supported")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(Field(inner))
        i = end + 2
    tail = "".join(literal)
    if tail:
        parts.append(tail)
    return tuple(parts)


def _excerpt(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "\u2026")


def has_placeholders(text: str) -> bool:
    """True if ``text`` holds at least one placeholder (malformed ones count)."""
    if "{{" not in text:
        return False
    try:
        return any(isinstance(p, Field) for p in parse(text))
    except TemplateError:
        return True


def field_names(text: str) -> list[str]:
    """The placeholder names in ``text``, in order of first use."""
    seen: dict[str, None] = {}
    for part in parse(text):
        if isinstance(part, Field):
            seen.setdefault(part.name)
    return list(seen)


def substitute(text: str, values: Mapping[str, str | None]) -> str:
    """``text`` with every placeholder replaced. MissingValue for a field with no value
    (absent, None or empty); TemplateError if a placeholder is malformed."""
    if "{{" not in text:
        return text
    out = []
    for part in parse(text):
        if isinstance(part, Field):
            value = values.get(part.name)
            if value is None or value == "":
                raise MissingValue(part.name)
            out.append(value)
        else:
            out.append(part)
    return "".join(out)


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``--set FIELD=VALUE`` options as values for :func:`substitute`.

    InvalidInput (one line) for an item with no ``=``, a field name that is empty or not
    a placeholder name, an empty value, or a field given twice.
    """
    values: dict[str, str] = {}
    for item in items or []:
        name, equals, value = item.partition("=")
        shown = _excerpt(item)
        if not equals:
            raise InvalidInput(f"--set {shown}: expected FIELD=VALUE")
        if _NAME.fullmatch(name) is None:
            what = "has no field name" if not name else f"field {_excerpt(name)} is not a name"
            raise InvalidInput(f"--set {shown} {what}: expected FIELD=VALUE with a field "
                               "of letters, digits and _ (not starting with a digit)")
        if not value:
            raise InvalidInput(f"--set {shown}: the value is empty")
        if name in values:
            raise InvalidInput(f"--set {name}= is given twice")
        values[name] = value
    return values
