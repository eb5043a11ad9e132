"""YAML and JSON text to a tree of values that remember their line and column.

YAML goes through PyYAML's composer (``yaml.compose`` with the safe loader's resolver),
which keeps a start mark on every node; scalars are then built by the safe constructor,
so YAML means here exactly what it means to ``yaml.safe_load``.

JSON does *not* go through the YAML composer, although JSON is nearly YAML: PyYAML reads
YAML 1.1, where ``1e5`` is a string, tab indentation is an error and ``\\ud83d\\ude00`` stays
two lone surrogates. Python's ``json`` module decides what is valid JSON and reports the
position of a syntax error; then a small walker over the same text records where each
value starts and lets ``json`` decode every string and number, so values are what
``json.loads`` gives.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from rendercli.specfile.problems import Problem

MAX_DEPTH = 64  # a spec nests 5 levels; deeper is a mistake or an attack on the parser
MAX_NODES = 200_000  # YAML aliases can repeat a subtree: stop a "billion laughs" early


class _Invalid:
    """A value whose problem is already reported."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


@dataclass
class Node:
    """A value and where it starts (1-based line and column, in characters)."""

    kind: Literal["map", "seq", "scalar"]
    value: Any  # map: list[(key Node, value Node)]; seq: list[Node]; scalar: the value
    line: int
    column: int


@dataclass
class Parsed:
    root: Node | None  # None: the document is empty or unreadable
    problems: list[Problem] = field(default_factory=list)


def parse_text(text: str, file: str, *, syntax: Literal["yaml", "json"]) -> Parsed:
    """The tree of ``text`` (already decoded), and its syntax problems."""
    return _parse_json(text, file) if syntax == "json" else _parse_yaml(text, file)


def decode(data: bytes, file: str) -> tuple[str | None, list[Problem]]:
    """UTF-8 text (a BOM is dropped); a problem at the first bad byte otherwise."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        return None, [Problem(file, line, column, "the file is not UTF-8 text")]


# -- YAML ---------------------------------------------------------------------------------


def _parse_yaml(text: str, file: str) -> Parsed:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "unreadable"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return Parsed(None, [Problem(file, line, column, f"invalid YAML: {problem}{context}")])
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(_line_starts(text), exc.position)
        return Parsed(None, [Problem(file, line, column, f"invalid YAML: {exc.reason}")])
    except RecursionError:
        return Parsed(None, [Problem(file, 1, 1, "invalid YAML: nested too deeply")])
    if root is None:
        return Parsed(None, [])
    converter = _YamlConverter(file)
    return Parsed(converter.convert(root, 0), converter.problems)


class _YamlConverter:
    def __init__(self, file: str) -> None:
        import yaml

        self.yaml = yaml
        self.file = file
        self.constructor = yaml.constructor.SafeConstructor()
        self.problems: list[Problem] = []
        self.count = 0

    def problem(self, node: Any, message: str) -> None:
        self.problems.append(
            Problem(self.file, node.start_mark.line + 1, node.start_mark.column + 1, message))

    def convert(self, node: Any, depth: int) -> Node:
        yaml = self.yaml
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        self.count += 1
        if self.count == MAX_NODES:
            self.problem(node, f"too many values (over {MAX_NODES:,}; aliases repeating "
                               "a large part?)")
        if self.count >= MAX_NODES:
            return Node("scalar", INVALID, line, column)
        if depth > MAX_DEPTH:
            self.problem(node, "nested too deeply")
            return Node("scalar", INVALID, line, column)
        if isinstance(node, yaml.MappingNode):
            name = _unquoted_placeholder(yaml, node)
            if name is not None:
                self.problem(node, f"{{{{ {name} }}}} without quotes is a YAML mapping: "
                                   f"quote it, as \"{{{{ {name} }}}}\"")
                return Node("scalar", INVALID, line, column)
            pairs = []
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge":
                    self.problem(key, "merge keys (<<) are not supported: write the keys out")
                    continue
                if not isinstance(key, yaml.ScalarNode):
                    self.problem(key, "a key must be plain text, not a list or mapping")
                    continue
                pairs.append((self.convert(key, depth + 1), self.convert(value, depth + 1)))
            return Node("map", pairs, line, column)
        if isinstance(node, yaml.SequenceNode):
            return Node("seq", [self.convert(item, depth + 1) for item in node.value],
                        line, column)
        try:
            value = self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            self.problem(node, f"unsupported value ({getattr(exc, 'problem', None) or exc})")
            value = INVALID
        except (ValueError, OverflowError):  # e.g. an integer of thousands of digits
            self.problem(node, "unsupported value (a number too long)")
            value = INVALID
        return Node("scalar", value, line, column)


_NULL = "tag:yaml.org,2002:null"


def _unquoted_placeholder(yaml: Any, node: Any) -> str | None:
    """``name`` if ``node`` is how YAML reads ``{{ name }}`` written without quotes: a
    flow mapping whose only key is a flow mapping ``{name: null}``, both without values."""
    if not (node.flow_style and len(node.value) == 1):
        return None
    key, value = node.value[0]
    if not (isinstance(key, yaml.MappingNode) and key.flow_style and len(key.value) == 1
            and isinstance(value, yaml.ScalarNode) and value.tag == _NULL):
        return None
    inner, empty = key.value[0]
    if (isinstance(inner, yaml.ScalarNode) and isinstance(empty, yaml.ScalarNode)
            and empty.tag == _NULL and inner.tag == "tag:yaml.org,2002:str"):
        return str(inner.value)
    return None


# -- JSON ---------------------------------------------------------------------------------


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _parse_json(text: str, file: str) -> Parsed:
    try:
        json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        if not text.strip():
            return Parsed(None, [])
        return Parsed(None, [Problem(file, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}")])
    except (_NonFinite, ValueError):
        pass  # NaN, or an integer of thousands of digits: the walker reports its position
    except RecursionError:
        return Parsed(None, [Problem(file, 1, 1, "invalid JSON: nested too deeply")])
    walker = _JsonWalker(text, file)
    root = walker.value(walker.skip(0), 0)[0]
    return Parsed(root, walker.problems)


class _JsonWalker:
    """Positions for text that ``json.loads`` has accepted (apart from NaN/Infinity)."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.starts = _line_starts(text)
        self.problems: list[Problem] = []

    def skip(self, i: int) -> int:
        text = self.text
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def node(self, kind: Literal["map", "seq", "scalar"], value: Any, i: int) -> Node:
        line, column = _line_column(self.starts, i)
        return Node(kind, value, line, column)

    def value(self, i: int, depth: int) -> tuple[Node, int]:
        text = self.text
        if depth > MAX_DEPTH:
            line, column = _line_column(self.starts, i)
            self.problems.append(Problem(self.file, line, column, "nested too deeply"))
            return self.node("scalar", INVALID, i), len(text)
        ch = text[i]
        if ch == "{":
            pairs = []
            j = self.skip(i + 1)
            while text[j] != "}":
                key_start = j
                key, j = json.decoder.scanstring(text, j + 1)
                j = self.skip(self.skip(j) + 1)  # past ':'
                item, j = self.value(j, depth + 1)
                pairs.append((self.scalar(key, key_start), item))
                j = self.skip(j)
                if text[j] == ",":
                    j = self.skip(j + 1)
            return self.node("map", pairs, i), j + 1
        if ch == "[":
            items = []
            j = self.skip(i + 1)
            while text[j] != "]":
                item, j = self.value(j, depth + 1)
                items.append(item)
                j = self.skip(j)
                if text[j] == ",":
                    j = self.skip(j + 1)
            return self.node("seq", items, i), j + 1
        if ch == '"':
            string, j = json.decoder.scanstring(text, i + 1)
            return self.scalar(string, i), j
        for literal, constant in (("true", True), ("false", False), ("null", None)):
            if text.startswith(literal, i):
                return self.node("scalar", constant, i), i + len(literal)
        match = json.scanner.NUMBER_RE.match(text, i)
        if match is not None and match.end() > i:
            integer, fraction, exponent = match.groups()
            try:
                number: Any = (float(integer + (fraction or "") + (exponent or ""))
                               if fraction or exponent else int(integer))
            except ValueError:  # more digits than int() converts
                return self.bad(i, "a number too long"), match.end()
            if isinstance(number, float) and not math.isfinite(number):
                return self.bad(i, "a number too large"), match.end()
            return self.node("scalar", number, i), match.end()
        for constant in ("NaN", "Infinity", "-Infinity"):
            if text.startswith(constant, i):
                return self.bad(i, f"{constant} is not a number JSON allows"), i + len(constant)
        raise AssertionError(f"json accepted text the walker cannot read at {i}")

    def scalar(self, string: str, i: int) -> Node:
        if any("\ud800" <= ch <= "\udfff" for ch in string):
            return self.bad(i, "a string with an unpaired surrogate (\\ud800-\\udfff)")
        return self.node("scalar", string, i)

    def bad(self, i: int, message: str) -> Node:
        line, column = _line_column(self.starts, i)
        self.problems.append(Problem(self.file, line, column, f"invalid JSON: {message}"))
        return self.node("scalar", INVALID, i)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    index = text.find("\n")
    while index >= 0:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def _line_column(starts: list[int], index: int) -> tuple[int, int]:
    line = bisect.bisect_right(starts, index)
    return line, index - starts[line - 1] + 1
