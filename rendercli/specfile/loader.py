"""Read a spec file into the model, collecting every problem with its line and column.

The tree from ``nodes`` is checked against the shapes in ``model``'s field metadata: the
same shapes the JSON Schema is generated from. Unknown keys are errors, with the closest
known key suggested. Rules spanning several fields (``spec_checks``) run once an object's
fields are all valid. Checks that need the media itself (kinds, lengths) are in ``media``.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rendercli.specfile import template
from rendercli.specfile.model import Spec
from rendercli.specfile.nodes import INVALID, Node, decode, parse_text
from rendercli.specfile.problems import (
    Position,
    Problem,
    SpecInvalid,
    display_path,
    read_source,
    suggest,
)
from rendercli.specfile.shapes import (
    Bool,
    Const,
    ListOf,
    Nullable,
    Num,
    Obj,
    OneOf,
    Shape,
    Str,
    Unfilled,
    cross_checks,
    describe,
    filled_later,
    has_unfilled,
    number_range,
    spec_fields,
)

MAX_SPEC_BYTES = 10 * 1000**2

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedSpec:
    """A spec as read from its file, placeholders still in place."""

    file: str  # the path as given, for messages
    base_dir: Path  # media paths are relative to this folder
    spec: Spec
    positions: Mapping[FieldPath, Position]  # ("timeline", 0, "media") -> where it starts

    def position(self, path: FieldPath) -> Position:
        """Where the value at ``path`` starts, or its closest enclosing value."""
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, Position(1, 1))

    def problem(self, path: FieldPath, message: str, row: int | None = None) -> Problem:
        where = self.position(path)
        return Problem(self.file, where.line, where.column, message, row)


@dataclass(frozen=True)
class PartialSpec:
    """What could be read of a spec with format errors: its well-formed file paths, so
    media problems are reported in the same run as the format's (``check.load_checked``)."""

    file: str
    base_dir: Path
    paths: tuple[tuple[FieldPath, str], ...]  # (("timeline", 1, "media"), "intro.mp4")
    positions: Mapping[FieldPath, Position]

    def problem(self, path: FieldPath, message: str) -> Problem:
        where = self.positions.get(path, Position(1, 1))
        return Problem(self.file, where.line, where.column, message)


def syntax_for(path: Path) -> str:
    """JSON for ``.json`` files, YAML otherwise (YAML also reads most JSON)."""
    return "json" if path.suffix.lower() == ".json" else "yaml"


def load_spec(path: Path, display: str | None = None) -> LoadedSpec:
    """Read and check a spec file; SpecInvalid with every problem found."""
    file = display or display_path(path)
    data, problems = read_source(path, file, MAX_SPEC_BYTES)
    if data is not None and len(data) > MAX_SPEC_BYTES:
        problems = [Problem(file, 0, 0, f"larger than {MAX_SPEC_BYTES // 1000**2} MB")]
    if problems or data is None:
        raise SpecInvalid(problems)
    text, problems = decode(data, file)
    if text is None:
        raise SpecInvalid(problems)
    # The folder as given (a symlinked spec file still means its own folder).
    base_dir = Path(os.path.abspath(path)).parent
    return load_text(text, file, base_dir=base_dir, syntax=syntax_for(path))


def load_text(text: str, file: str, *, base_dir: Path, syntax: str = "yaml") -> LoadedSpec:
    """Check spec text; SpecInvalid with every problem found."""
    parsed = parse_text(text, file, syntax="json" if syntax == "json" else "yaml")
    if parsed.problems and parsed.root is None:
        raise SpecInvalid(parsed.problems)
    if parsed.root is None:
        raise SpecInvalid([Problem(file, 1, 1, "the file is empty: expected a spec "
                                               "starting with version: 1")])
    checker = _Checker(file)
    spec = checker.check(parsed.root, Obj(Spec), ())
    problems = sorted(set(parsed.problems + checker.problems))
    if problems or spec is INVALID:
        error = SpecInvalid(problems or [Problem(file, 1, 1, "invalid spec")])
        error.partial = PartialSpec(file, base_dir, tuple(checker.paths), checker.positions)
        raise error
    return LoadedSpec(file=file, base_dir=base_dir, spec=spec, positions=checker.positions)


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null (nothing)"
    if isinstance(value, datetime.date):
        return "a date"
    return f"a {type(value).__name__} value"


# How a number is written in a data row or --set value (JSON rows give numbers as JSON
# writes them): decimal, optionally signed, with an optional exponent. No inf or nan.
MAX_NUMBER_CHARS = 100  # longer is no number a spec needs (and int() refuses 4,300 digits)
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def read_filled(shape: Shape, text: str, key: object) -> tuple[Any, str | None]:
    """A placeholder's filled-in ``text`` read as a value of ``shape`` (an
    :class:`Unfilled` value's), with exactly the checks a value written in the file gets:
    ``(value, None)``, or ``(INVALID, why not)``. Rules spanning fields are the caller's
    (``fill`` runs the objects' ``spec_checks`` once they are filled in)."""
    written = text.strip()
    value: Any = written
    if len(written) <= MAX_NUMBER_CHARS and NUMBER_TEXT.fullmatch(written):
        value = float(written) if any(c in written for c in ".eE") else int(written)
    elif len(written) > MAX_NUMBER_CHARS or not _takes_text(shape):
        shown = repr(written if len(written) <= 40 else written[:39] + "\u2026")
        return INVALID, f"{key}: expected {describe(shape)}, got {shown} once filled in"
    checker = _Checker("", defer=False)
    result = checker.check(Node("scalar", value, 1, 1), shape, ())
    if result is INVALID:
        message = checker.problems[0].message if checker.problems else "invalid"
        if message.startswith("expected "):  # "expected a number above 0, got 0"
            return INVALID, f"{key}: {message} once filled in"
        return INVALID, f"{key}, once filled in: {message}"
    return result, None


def _takes_text(shape: Shape) -> bool:
    match shape:
        case Str():
            return True
        case Nullable(shape=inner):
            return _takes_text(inner)
        case OneOf(options=options):
            return any(map(_takes_text, options))
    return False


class _Checker:
    def __init__(self, file: str, *, defer: bool = True) -> None:
        self.file = file
        self.defer = defer  # placeholders where a number goes: left to the data rows
        self.problems: list[Problem] = []
        self.positions: dict[FieldPath, Position] = {}
        self.paths: list[tuple[FieldPath, str]] = []  # file paths that are well formed

    def problem(self, node: Node, message: str) -> Any:
        self.problems.append(Problem(self.file, node.line, node.column, message))
        return INVALID

    def expected(self, node: Node, shape: Shape) -> Any:
        got = "a list" if node.kind == "seq" else "a mapping" if node.kind == "map" else (
            _kind_of(node.value))
        hint = ""
        if isinstance(shape, Str) and node.kind == "scalar" and not shape.enum and (
            isinstance(node.value, bool | int | float | datetime.date)
        ):
            hint = " (quote it to make it text)"
            if isinstance(node.value, bool):
                hint = " (YAML reads yes/no/on/off as booleans: quote it to make it text)"
        elif isinstance(shape, Str) and shape.enum and node.kind == "scalar":
            hint = suggest(str(node.value), shape.enum)
        return self.problem(node, f"expected {describe(shape)}, got {got}{hint}")

    def check(self, node: Node, shape: Shape, path: FieldPath) -> Any:
        self.positions[path] = Position(node.line, node.column)
        if node.kind == "scalar" and node.value is INVALID:
            return INVALID  # already reported
        if (self.defer and node.kind == "scalar" and isinstance(node.value, str)
                and "{{" in node.value and filled_later(shape)):
            try:
                if template.field_names(node.value):
                    return Unfilled(node.value, shape)
            except template.TemplateError as exc:
                return self.problem(node, str(exc))
        match shape:
            case Nullable(shape=inner):
                if node.kind == "scalar" and node.value is None:
                    return None
                return self.check(node, inner, path)
            case Str():
                value = self.string(node, shape)
                if shape.path and isinstance(value, str):
                    self.paths.append((path, value))
                return value
            case Num():
                return self.number(node, shape)
            case Bool():
                if node.kind != "scalar" or not isinstance(node.value, bool):
                    return self.expected(node, shape)
                return node.value
            case Const(value=value):
                if (node.kind != "scalar" or isinstance(node.value, bool)
                        or node.value != value):
                    shown = node.value if node.kind == "scalar" else node.kind
                    return self.problem(node, f"unsupported version {shown!r}: this rendercli "
                                              f"reads spec version {value}")
                return value
            case ListOf():
                return self.list(node, shape, path)
            case Obj():
                return self.object(node, shape, path)
            case OneOf():
                return self.one_of(node, shape, path)
        raise TypeError(shape)

    def string(self, node: Node, shape: Str) -> Any:
        value = node.value
        if node.kind != "scalar" or not isinstance(value, str):
            return self.expected(node, shape)
        if len(value) < shape.min_length or not value.strip():
            return self.problem(node, "must not be empty")
        if shape.max_length is not None and len(value) > shape.max_length:
            return self.problem(node, f"is {len(value)} characters; at most "
                                      f"{shape.max_length} are allowed")
        if "\x00" in value:
            return self.problem(node, "must not contain NUL characters")
        if shape.enum is not None and value not in shape.enum:
            return self.problem(node, f"unknown value {value!r}{suggest(value, list(shape.enum))}"
                                      f": expected one of {', '.join(shape.enum)}")
        placeholders = False
        if shape.template:
            try:
                placeholders = bool(template.field_names(value))
            except template.TemplateError as exc:
                return self.problem(node, str(exc))
        elif "{{" in value and template.has_placeholders(value):
            return self.problem(node, "placeholders ({{ field }}) are not allowed here: only "
                                      "in text, colours, numbers, media paths, and the output "
                                      "and project names")
        if shape.check is not None and not placeholders:
            try:
                shape.check(value)
            except ValueError as exc:
                return self.problem(node, str(exc))
        if shape.convert is not None:
            try:
                return shape.convert(value)
            except ValueError as exc:
                return self.problem(node, str(exc))
        if (shape.pattern is not None and not placeholders
                and not full_match(shape.pattern, value)):
            return self.problem(node, f"expected {describe(shape)}, got {value!r}")
        return value

    def number(self, node: Node, shape: Num) -> Any:
        value = node.value
        if node.kind != "scalar" or isinstance(value, bool) or not isinstance(value, int | float):
            return self.expected(node, shape)
        if isinstance(value, float) and not math.isfinite(value):
            return self.problem(node, f"expected {number_range(shape)}, got {value}")
        if shape.integer:
            if isinstance(value, float) and not value.is_integer():
                return self.problem(node, f"expected {number_range(shape)}, got {value:g}")
            value = int(value)
        if ((shape.minimum is not None and value < shape.minimum)
                or (shape.maximum is not None and value > shape.maximum)
                or (shape.above is not None and value <= shape.above)):
            return self.problem(node, f"expected {number_range(shape)}, got {value:g}")
        return value if shape.integer else float(value)

    def list(self, node: Node, shape: ListOf, path: FieldPath) -> Any:
        if node.kind != "seq":
            return self.expected(node, shape)
        if len(node.value) < shape.min_items:
            return self.problem(node, f"needs at least {shape.min_items} "
                                      f"item{'s' if shape.min_items > 1 else ''}")
        items = [self.check(item, shape.item, (*path, i)) for i, item in enumerate(node.value)]
        return INVALID if any(item is INVALID for item in items) else tuple(items)

    def keys(self, node: Node) -> tuple[dict[str, tuple[Node, Node]], bool, bool]:
        """The mapping's pairs by key (first occurrence); False if a key was duplicated
        or not text (each reported); and True if a key was lost to an earlier problem
        (past the YAML size limit): then a key missing here may well be there."""
        seen: dict[str, tuple[Node, Node]] = {}
        ok = True
        lost = False
        for key, value in node.value:
            if not isinstance(key.value, str):
                if key.value is not INVALID:
                    self.problem(key, f"a key must be text, got {_kind_of(key.value)}")
                lost = lost or key.value is INVALID
                ok = False
                continue
            if key.value in seen:
                first = seen[key.value][0]
                self.problem(key, f"duplicate key {key.value!r} (first at line {first.line})")
                ok = False
                continue
            seen[key.value] = (key, value)
        return seen, ok, lost

    def object(self, node: Node, shape: Obj, path: FieldPath) -> Any:
        if node.kind != "map":
            return self.expected(node, shape)
        pairs, ok, lost = self.keys(node)
        fields = spec_fields(shape.cls)
        known = [f.key for f in fields]
        for key, (key_node, _value) in pairs.items():
            if key not in known:
                self.problem(key_node, f"unknown key {key!r}{suggest(key, known)}: "
                                       f"expected one of {', '.join(known)}")
                ok = False
        values: dict[str, Any] = {}
        for f in fields:
            pair = pairs.get(f.key)
            if pair is None:
                if f.required:
                    if not lost:  # else it may be among the keys already reported
                        self.problem(node, f"missing key {f.key!r}")
                    ok = False
                continue
            self.positions[(*path, f.key)] = Position(pair[1].line, pair[1].column)
            value = self.check(pair[1], f.shape, (*path, f.key))
            if value is INVALID:
                ok = False
            else:
                values[f.attr] = value
        if not ok:
            return INVALID
        result = shape.cls(**values)
        if has_unfilled(result):
            return result  # rules spanning fields wait for the row (fill.fill runs them)
        for key, message in cross_checks(shape.cls, result):
            where = self.positions.get((*path, key), Position(node.line, node.column))
            self.problems.append(Problem(self.file, where.line, where.column, message))
            ok = False
        return result if ok else INVALID

    def one_of(self, node: Node, shape: OneOf, path: FieldPath) -> Any:
        if node.kind == "map":
            objects = [o for o in shape.options if isinstance(o, Obj)]
            tagged = [o for o in objects if o.tag is not None]
            if not tagged:
                return self.check(node, objects[0], path) if objects else self.expected(
                    node, shape)
            if any(k.value is INVALID for k, _ in node.value):
                return INVALID  # a key lost to a problem already reported
            keys = [k.value for k, _ in node.value if isinstance(k.value, str)]
            present = [o for o in tagged if o.tag in keys]
            if len(present) == 1:
                return self.check(node, present[0], path)
            tags = [o.tag for o in tagged if o.tag]
            if not present:
                hints = "".join(suggest(k, tags) for k in keys if k not in tags)[:80]
                return self.problem(node, f"expected {shape.expected}: no "
                                          f"{' or '.join(t + ':' for t in tags)} key{hints}")
            return self.problem(node, f"an item is either {' or '.join(t + ':' for t in tags)}"
                                      ", not both")
        if node.kind == "scalar":
            value = node.value
            for option in shape.options:
                if _scalar_fits(option, value):
                    result = self.check(node, option, path)
                    if dataclasses.is_dataclass(result):  # a shorthand: TEXT for {text: TEXT}
                        for f in spec_fields(type(result)):
                            if getattr(result, f.attr) is value:
                                self.positions[(*path, f.key)] = Position(node.line, node.column)
                    return result
        return self.expected(node, shape)


def _scalar_fits(option: Shape, value: Any) -> bool:
    if isinstance(value, bool):
        return isinstance(option, Bool)
    if isinstance(value, int | float):
        return isinstance(option, Num)
    return isinstance(value, str) and isinstance(option, Str)


def full_match(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None
