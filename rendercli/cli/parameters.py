"""rendercli's command parameters: Typer's, with four behaviours of the tool's own.

Typer builds the commands; `adopt()` then gives each of its parameters one of the two
subclasses below (Typer's public TyperOption/TyperArgument classes, overriding only
Click's public Parameter methods; Typer's own classes are left as they are). The lazy
root group (app_group.py) calls it on each noun's commands when that noun is loaded.

1. Keeping pydantic out of commands that do not need it (`process_value`). Typer (0.29)
   coerces every parameter value through a pydantic TypeAdapter that it builds the
   first time the parameter is processed, even for an omitted option whose value is
   None, which that coercion returns unchanged. The first build imports pydantic:
   100-300 ms on a 2-core machine, paid by every command.

   An omitted optional parameter, and the plain cases of `_plain_value` (a `str`, a
   number in plain decimal notation, which int()/float() read as pydantic's lax mode
   does, a default, a `Path` with no path checks), skip the adapter; anything else
   (`1_000`, ` 2.5`, a non-UTF-8 path, a `clamp`ed number) goes through Typer's coercion.
   tests/test_startup.py checks, on every parameter, that each shortcut gives Typer's
   outcome.

2. One message for every out-of-range number (`check_range`, nan and inf refused too),
   in the style of every other range error, before Typer's pydantic message would.

3. Help that reads like the tool: `PROJECT`, `FILE...` and `[from 1 to 120]` (from the
   enforced `min`/`max`) where Typer writes `{PROJECT}`, `FILE <list[str]>`, `[x>=0.0]`.

4. Shell completion of values: when Typer has nothing to offer, rendercli.cli.completion
   completes by metavar (PROJECT, ASSET, JOB) and option name (--preset, --format, ...).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperArgument, TyperOption

from rendercli.errors import InvalidInput


def param_name(param: Any) -> str:
    """How a parameter is named to the user: its longest option, or its metavar."""
    opts = getattr(param, "opts", None) or []
    if getattr(param, "param_type_name", "") == "option" and opts:
        return max(opts, key=len)
    return str(param.metavar or (param.name or "").upper())


def describe_range(low: float | None, high: float | None, *, whole: bool) -> str:
    """`a whole number from 1 to 120`, `a number of 0 or more`, `a number up to 10`."""
    kind = "a whole number" if whole else "a number"
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    if low is not None:
        return f"{kind} of {low:g} or more"
    return f"{kind} up to {high:g}"


def short_range(low: float | None, high: float | None) -> str | None:
    """`from 1 to 120`, `0 or more`, `up to 10`; None without a bound."""
    if low is not None and high is not None:
        return f"from {low:g} to {high:g}"
    if low is not None:
        return f"{low:g} or more"
    if high is not None:
        return f"up to {high:g}"
    return None


def check_range(param: Any, value: Any) -> None:
    """InvalidInput unless `value` (as given) is a finite number in the parameter's range."""
    low, high = param.min, param.max
    if (low is None and high is None) or value is None or isinstance(value, list | tuple):
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        return  # not a number at all: Typer's own conversion error says so
    whole = param.type_descriptor.annotation is int
    if (not math.isfinite(number) or (low is not None and number < low)
            or (high is not None and number > high) or (whole and not number.is_integer())):
        shown = value if isinstance(value, str) else f"{number:g}"
        raise InvalidInput(f"{param_name(param)} must be "
                           f"{describe_range(low, high, whole=whole)}, got {shown}")


_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NO_PATH_CHECKS = {"exists": False, "file_okay": True, "dir_okay": True, "writable": False,
                   "resolve_path": False, "allow_dash": False, "path_type": None}
_MISSING = object()


def _plain_value(param: Any, value: Any) -> Any:
    """`value` converted as Typer's coercion would, for the plain cases (point 1 of the
    module docstring); _MISSING for any other case (then Typer's coercion runs)."""
    annotation = param.type_descriptor.annotation
    if isinstance(value, str) and annotation is str:
        return value
    if value is param.default and type(value) is annotation and annotation in (int, float, bool):
        return value
    if not isinstance(value, str):
        return _MISSING
    info = param.type_descriptor.parameter_info
    if annotation in (int, float) and not getattr(info, "clamp", False):
        if _INT.fullmatch(value) if annotation is int else _FLOAT.fullmatch(value):
            return annotation(value)
        return _MISSING
    if (annotation is Path and value and "\0" not in value and value.isprintable()
            and all(getattr(info, k, v) == v for k, v in _NO_PATH_CHECKS.items())):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from a non-UTF-8 name
            return _MISSING
        if os.path.exists(value) and not os.access(value, os.R_OK):
            return _MISSING  # Typer refuses an unreadable path: let it say so
        return Path(value)
    return _MISSING


@dataclass
class Completion:
    """One completion, as Click's shell completion reads it (value, type, help)."""

    value: str
    help: str | None = None
    type: str = "plain"


def _process_value(param: Any, ctx: Any, value: Any, typers: Any) -> Any:
    single = not (param.multiple or param.nargs == -1)
    if value is None and not param.required:
        value = None if single else ()  # an omitted multiple option (`--set`): ()
        return param.callback(ctx, param, value) if param.callback is not None else value
    if value is None and ctx.resilient_parsing:
        # Shell completion parses a partial command line: a missing required value is
        # None there whatever Typer's coercion would do (Click swallows its error).
        return None
    check_range(param, value)
    plain = _plain_value(param, value) if single else _MISSING
    if plain is _MISSING:
        return typers(ctx, value)
    return param.callback(ctx, param, plain) if param.callback is not None else plain


def _help_record(param: Any, ctx: Any, typers: Any) -> tuple[str, str] | None:
    """Typer's record without its range text, then ours in the same bracket."""
    low, high = param.min, param.max
    param.min = param.max = None
    try:
        record = typers(ctx)
    finally:
        param.min, param.max = low, high
    if record is None:
        return None
    decl, text = record
    bound = short_range(low, high)
    if bound:  # Typer writes `{help}  [{extra}; required]`: the range goes before required
        base = param.help or ""
        extra = text[len(base) + 2 if base else 0:][1:-1].split("; ") if text != base else []
        extra.insert(len(extra) - (extra[-1:] == ["required"]), bound)
        text = f"{base}  [{'; '.join(extra)}]" if base else f"[{'; '.join(extra)}]"
    return decl, text


def _completions(param: Any, incomplete: str, typers: list[Any]) -> list[Any]:
    if typers:
        return typers
    from rendercli.cli import completion  # only a shell completing loads it (and services)

    values = completion.complete(param, incomplete)
    if values is None:
        return typers
    return [Completion(v, help=h or None) for v, h in values]


# Two classes with the same three methods: `adopt` swaps a parameter's class, which
# Python allows only to a subclass with the same layout (no mixin base).


class RenderOption(TyperOption):
    """An option: `--fps <int>` in help rather than `--fps <int range>`."""

    __slots__ = ()

    def process_value(self, ctx: Any, value: Any) -> Any:
        return _process_value(self, ctx, value, super().process_value)

    def get_help_record(self, ctx: Any) -> tuple[str, str] | None:
        record = _help_record(self, ctx, super().get_help_record)
        return None if record is None else (record[0].replace(" range>", ">"), record[1])

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        return _completions(self, incomplete, super().shell_complete(ctx, incomplete))


class RenderArgument(TyperArgument):
    """An argument: `PROJECT` / `FILE...` in usage and help, no type shown."""

    __slots__ = ()

    def process_value(self, ctx: Any, value: Any) -> Any:
        return _process_value(self, ctx, value, super().process_value)

    def get_help_record(self, ctx: Any) -> tuple[str, str] | None:
        record = _help_record(self, ctx, super().get_help_record)
        many = "..." if self.nargs != 1 else ""
        return None if record is None else (self._name() + many, record[1])

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        return _completions(self, incomplete, super().shell_complete(ctx, incomplete))

    def _name(self) -> str:
        return str(self.metavar or (self.name or "").upper())

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        many = "..." if self.nargs != 1 else ""
        return [f"{self._name()}{many}" if self.required else f"[{self._name()}]{many}"]


def adopt_param(param: Any) -> None:
    """Give one of Typer's parameters rendercli's class (same layout, Typer's data kept)."""
    if type(param) is TyperOption:
        param.__class__ = RenderOption
    elif type(param) is TyperArgument:
        param.__class__ = RenderArgument


def adopt(command: Any, ctx: Any) -> Any:
    """Give `command`'s parameters, its --help option (made for `ctx`, a context of
    `command`, and kept by Click) and its sub-commands', rendercli's classes."""
    for param in command.get_params(ctx):
        adopt_param(param)
    for name, sub in getattr(command, "commands", {}).items():
        adopt(sub, typer.Context(sub, info_name=name, parent=ctx))
    return command
