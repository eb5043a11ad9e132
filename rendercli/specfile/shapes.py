"""The building blocks of the spec's one definition.

A model field says what it accepts with one of these shapes (in its dataclass field
metadata, via :func:`spec_field`). The loader checks values against the shapes and the
schema generator turns the same shapes into JSON Schema, so the two cannot drift apart.

Patterns are written in the regular-expression subset shared by Python and ECMA-262
(JSON Schema's dialect), and always match the whole value.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Str:
    """Text.

    ``convert`` turns accepted text into the model's value when the file is read.
    ``check`` judges the final text: when the file is read, or after placeholders are
    filled from a data row if the text has any. Both raise ValueError with the reason.
    """

    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    expected: str = ""  # how to describe a pattern to a person: "KIND[:SECONDS]"
    min_length: int = 1
    max_length: int | None = None
    template: bool = False  # may hold {{ field }} placeholders
    path: bool = False  # a file path, relative to the spec file's folder
    convert: Callable[[str], Any] | None = None
    check: Callable[[str], object] | None = None
    later: bool = False  # may be {{ field }} text, read (pattern, convert) once filled in


@dataclass(frozen=True)
class Num:
    """A number (never a boolean). ``above``: strictly greater than this."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    integer: bool = False


@dataclass(frozen=True)
class Bool:
    """true or false."""


@dataclass(frozen=True)
class Const:
    """Exactly this value (the format version)."""

    value: int


@dataclass(frozen=True)
class ListOf:
    item: Shape
    min_items: int = 0
    max_items: int | None = None


@dataclass(frozen=True)
class Obj:
    """A mapping whose keys are the fields of a model dataclass; unknown keys are errors.

    ``tag``: the key that says which alternative of a :class:`OneOf` this mapping is.
    """

    cls: type
    tag: str | None = None


@dataclass(frozen=True)
class OneOf:
    """One of several shapes, chosen by the value's type (and a mapping by its tag key)."""

    options: tuple[Shape, ...]
    expected: str  # for messages: "a transition: KIND[:SECONDS] or {kind, duration}"


@dataclass(frozen=True)
class Nullable:
    """The shape, or null (meaning: not set)."""

    shape: Shape


Shape = Str | Num | Bool | Const | ListOf | Obj | OneOf | Nullable


@dataclass(frozen=True)
class Unfilled:
    """A value left to a data row (or ``--set``): ``{{ field }}`` text where the spec wants
    a number (``duration: "{{ seconds }}"``). The loaded spec holds this in place of the
    value; filling the placeholders reads the text as ``shape`` with the loader's own
    checks (``loader.read_filled``), and rules spanning fields wait until then."""

    text: str
    shape: Shape


def has_unfilled(value: Any) -> bool:
    """True if ``value`` (a model object, a tuple of them, or a field value) holds an
    :class:`Unfilled` value anywhere."""
    if isinstance(value, Unfilled):
        return True
    if isinstance(value, tuple):
        return any(map(has_unfilled, value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(has_unfilled(getattr(value, f.attr)) for f in spec_fields(type(value)))
    return False


def filled_later(shape: Shape) -> bool:
    """True if ``{{ field }}`` text in place of a value of ``shape`` is left to the data
    row as an :class:`Unfilled` value: where a number goes, or text read into a value
    (``Str(later=True)``, a transition's ``KIND:SECONDS``)."""
    match shape:
        case Num():
            return True
        case Str(later=later):
            return later
        case Nullable(shape=inner):
            return filled_later(inner)
        case OneOf(options=options):
            return any(map(filled_later, options))
    return False


REQUIRED = dataclasses.MISSING


def spec_field(shape: Shape, doc: str, *, default: Any = REQUIRED, key: str | None = None) -> Any:
    """A dataclass field that is also part of the spec format.

    ``key`` is the name in the file when it differs from the attribute (``for``).
    Omit ``default`` for a required key. Tuples are immutable, so they are plain defaults.
    """
    metadata = {"shape": shape, "doc": doc, "key": key}
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class FieldInfo:
    attr: str  # attribute of the dataclass
    key: str  # key in the file
    shape: Shape
    doc: str
    required: bool
    default: Any


@functools.cache
def spec_fields(cls: type) -> tuple[FieldInfo, ...]:
    """The spec fields of a model dataclass, in declaration order (computed once per
    class: filling and checking thousands of data rows walks them for every row)."""
    out = []
    for f in dataclasses.fields(cls):
        if "shape" not in f.metadata:
            continue
        out.append(
            FieldInfo(
                attr=f.name,
                key=f.metadata["key"] or f.name,
                shape=f.metadata["shape"],
                doc=f.metadata["doc"],
                required=f.default is dataclasses.MISSING,
                default=None if f.default is dataclasses.MISSING else f.default,
            )
        )
    return tuple(out)


def class_doc(cls: type) -> str:
    """The first paragraph of a model class's docstring, on one line."""
    text = (cls.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.split())


def cross_checks(cls: type, value: Any) -> Iterable[tuple[str, str]]:
    """(key, message) for each rule spanning several fields (``spec_checks`` on the class)."""
    check = getattr(cls, "spec_checks", None)
    return check(value) if check is not None else ()


def number_range(shape: Num) -> str:
    """A person's description of a number shape: "a number from 0 to 4"."""
    noun = "a whole number" if shape.integer else "a number"
    if shape.above is not None and shape.maximum is not None:
        return f"{noun} above {shape.above:g} and at most {shape.maximum:g}"
    if shape.above is not None:
        return f"{noun} above {shape.above:g}"
    if shape.minimum is not None and shape.maximum is not None:
        return f"{noun} from {shape.minimum:g} to {shape.maximum:g}"
    if shape.minimum is not None:
        return f"{noun} >= {shape.minimum:g}"
    if shape.maximum is not None:
        return f"{noun} <= {shape.maximum:g}"
    return noun


def describe(shape: Shape) -> str:
    """What a shape expects, for an error message."""
    match shape:
        case Str(enum=enum) if enum:
            return "one of " + ", ".join(enum)
        case Str(expected=expected) if expected:
            return expected
        case Str():
            return "text"
        case Num():
            return number_range(shape)
        case Bool():
            return "true or false"
        case Const(value=value):
            return str(value)
        case ListOf():
            return "a list"
        case Obj(cls=cls):
            return "a mapping (" + ", ".join(f.key for f in spec_fields(cls)) + ")"
        case OneOf(expected=expected):
            return expected
        case Nullable(shape=inner):
            return describe(inner) + " or null"
    raise TypeError(shape)
