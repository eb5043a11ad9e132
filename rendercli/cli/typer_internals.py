"""Every use of Typer's private API, in one place (pyproject pins typer>=0.29,<0.30).

tests/test_private_apis.py imports each name below and checks the patch still matches
Typer's own behaviour, so a Typer release that moves them fails the suite loudly
instead of breaking error handling or slowing commands down quietly.

1. Click's exceptions and Context. Typer >= 0.29 vendors its own Click as `typer._click`;
   the root group (app_group.py) catches its exceptions to print one line per failure.

2. Keeping pydantic out of commands that do not need it. Typer (0.29) coerces every
   parameter value through a pydantic TypeAdapter that it builds the first time the
   parameter is processed, even for an omitted option whose value is None, which that
   coercion returns unchanged. The first build imports pydantic: 100-300 ms on a 2-core
   machine, paid by `rendercli project --help`, `rendercli db upgrade --help` and every
   command given no argument that needs converting.

   `install()` makes an omitted, optional parameter skip the adapter: the result is the
   one Typer's coercion gives (None, or () for a multiple option such as `--set`, then
   the parameter's callback), and tests/test_startup.py checks that equivalence on
   every parameter of the app.

   A given value of a plain `str` parameter (PROJECT, JOB, names), and an `int` or `float`
   parameter's own default (`--limit 20`), also skip it, as Typer itself does for a bool
   flag given a bool: coercing a value to its own type returns it unchanged. The same
   test checks that equivalence too. Every other given value still goes through
   Typer's coercion.

   So do a given number in plain decimal notation for an `int` or `float` parameter
   (`--at 2.5`, `--limit 50`: int()/float() of such text is what pydantic's lax mode
   gives, and the range is checked here first), and a given path for a plain `Path`
   parameter (`-o frame.png`: Typer's own path checks run on `Path(value)`, the value
   pydantic would have made). Anything else (`1_000`, ` 2.5`, an empty or non-UTF-8
   path, a `clamp`ed number) goes through Typer's coercion as before.

3. Help that reads like the tool (patched in `install()`): Typer writes required arguments as
   `{PROJECT}` in the usage line, lists argument types (`FILE <list[str]>`), and shows
   number ranges as `[x>=0.0]`. The patched methods write `PROJECT`, `FILE...` and
   `[0 or more]` / `[from 1 to 120]`, from the same `min`/`max` that are enforced.

4. One message for every out-of-range number: `_process_value` checks a parameter's
   `min`/`max` itself (refusing nan and inf too) and raises InvalidInput
   ("--fps must be a whole number from 1 to 120, got 0"), the style of every other
   range error, before Typer's pydantic message would. `click_message()` rewrites
   Click's own errors in the tool's `error: ...` style.

5. Shell completion of values (`shell_complete`): a parameter without its own
   completion asks rendercli.cli.completion, which completes by metavar (PROJECT,
   ASSET, JOB) and option name (--preset, --format, ...).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from typer._click import Context
from typer._click.exceptions import (
    BadParameter,
    ClickException,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)
from typer.core import TyperArgument, TyperOption
from typer.core import _TyperParameter as TyperParameter

__all__ = [
    "BadParameter",
    "ClickException",
    "Context",
    "MissingParameter",
    "NoArgsIsHelpError",
    "NoSuchOption",
    "TyperArgument",
    "TyperOption",
    "TyperParameter",
    "UsageError",
    "click_message",
    "describe_range",
    "install",
    "param_name",
    "typer_process_value",
]


def param_name(param: Any) -> str:
    """How a parameter is named to the user: its longest option, or its metavar."""
    opts = getattr(param, "opts", None) or []
    if getattr(param, "param_type_name", "") == "option" and opts:
        return max(opts, key=len)
    return str(param.metavar or (param.name or "").upper())


def _is_int(param: Any) -> bool:
    return getattr(param.type_descriptor, "annotation", None) is int


def describe_range(low: float | None, high: float | None, *, whole: bool) -> str:
    """`a whole number from 1 to 120`, `a number of 0 or more`, `a number up to 10`."""
    kind = "a whole number" if whole else "a number"
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    if low is not None:
        return f"{kind} of {low:g} or more"
    return f"{kind} up to {high:g}"


def _check_range(param: Any, value: Any) -> None:
    """InvalidInput unless `value` (as given) is a finite number in the parameter's range."""
    from rendercli.errors import InvalidInput

    low, high = param.min, param.max
    if (low is None and high is None) or value is None or isinstance(value, list | tuple):
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        return  # not a number at all: Typer's own conversion error says so
    whole = _is_int(param)
    if (not math.isfinite(number) or (low is not None and number < low)
            or (high is not None and number > high) or (whole and not number.is_integer())):
        shown = value if isinstance(value, str) else f"{number:g}"
        raise InvalidInput(f"{param_name(param)} must be "
                           f"{describe_range(low, high, whole=whole)}, got {shown}")


def _process_value(param: Any, ctx: Any, value: Any) -> Any:
    single = not (param.multiple or param.nargs == -1)
    if value is None and not param.required:
        omitted = None if single else ()  # an omitted multiple option (`--set`): ()
        return param.callback(ctx, param, omitted) if param.callback is not None else omitted
    if value is None and getattr(ctx, "resilient_parsing", False):
        # Shell completion parses a partial command line: a missing required value is
        # None there whatever Typer's coercion would do (Click swallows its error).
        return None
    _check_range(param, value)
    annotation = param.type_descriptor.annotation
    plain = (isinstance(value, str) and annotation is str) or (
        value is param.default and type(value) is annotation and annotation in (int, float, bool))
    if single and plain:
        return param.callback(ctx, param, value) if param.callback is not None else value
    if single and isinstance(value, str):
        converted = _plain_conversion(param, ctx, annotation, value)
        if converted is not None:
            return param.callback(ctx, param, converted) if param.callback is not None \
                else converted
    return _typer_process_value(param, ctx, value)


_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _plain_conversion(param: Any, ctx: Any, annotation: Any, value: str) -> Any:
    """`value` converted as Typer's coercion would, for the plain cases of point 2 of
    the module docstring; None for any other case (then Typer's coercion runs)."""
    info = param.type_descriptor.parameter_info
    if annotation in (int, float) and not getattr(info, "clamp", False):
        if _INT.fullmatch(value) if annotation is int else _FLOAT.fullmatch(value):
            return annotation(value)
        return None
    if (annotation is Path and getattr(info, "path_type", None) is None and value
            and "\0" not in value and value.isprintable()):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from a non-UTF-8 name
            return None
        from typer._param_types import coerce_cli_path

        return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    return None


# ---- help text --------------------------------------------------------------------------


def _range_help(self: Any) -> str | None:
    if self.min is None and self.max is None:
        return None
    return _short_range(self.min, self.max)


def _short_range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"from {low:g} to {high:g}"
    if low is not None:
        return f"{low:g} or more"
    return f"up to {high:g}"


def _argument_usage(self: Any) -> str:
    name = str(self.metavar or (self.name or "").upper())
    many = "..." if self.nargs != 1 else ""
    return f"{name}{many}" if self.required else f"[{name}]{many}"


def _argument_help_name(self: Any) -> str:
    name = str(self.metavar or (self.name or "").upper())
    return name + ("..." if self.nargs != 1 else "")


def _option_type(self: Any, ctx: Any) -> str | None:
    if self.metavar is not None:
        return str(self.metavar)
    shown = _typer_option_type(self, ctx)
    return shown.replace(" range>", ">") if isinstance(shown, str) else shown


_typer_option_type: Any = None


# ---- Click's own messages, in the tool's style -------------------------------------------

_PYDANTIC = (
    ("Input should be a valid integer", "must be a whole number"),
    ("Input should be a valid number", "must be a number"),
    ("Input should be a valid boolean", "must be true or false"),
)


def click_message(exc: Any) -> str:
    """A Click error as one `error: ...` message: lower-case, no trailing period, the
    parameter named as the user typed it."""
    if isinstance(exc, MissingParameter) and exc.param is not None:
        kind = "option" if exc.param.param_type_name == "option" else "argument"
        return f"missing {kind} {param_name(exc.param)}"
    if isinstance(exc, BadParameter) and exc.param is not None:
        message = exc.message
        for start, replacement in _PYDANTIC:
            if message.startswith(start):
                message = replacement
                break
        return f"invalid value for {param_name(exc.param)}: {_lower(message)}"
    return _lower(exc.format_message())


def _lower(text: str) -> str:
    text = text.strip().rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return text


# ---- completion --------------------------------------------------------------------------


def _shell_complete(self: Any, ctx: Any, incomplete: str) -> Any:
    if self._custom_shell_complete is None:
        from typer._click.shell_completion import CompletionItem

        from rendercli.cli import completion

        values = completion.complete(self, incomplete)
        if values is not None:
            return [CompletionItem(v, help=h or None) for v, h in values]
    return _typer_shell_complete(self, ctx, incomplete)


_typer_shell_complete: Any = None


_typer_process_value: Any = None


def install() -> bool:
    """Patch Typer's parameter classes once; True when the patches are in place."""
    global _typer_process_value, _typer_option_type, _typer_shell_complete
    if TyperParameter.process_value is not _process_value:
        _typer_process_value = TyperParameter.process_value
        TyperParameter.process_value = _process_value  # type: ignore[method-assign]
    if TyperOption.display_type_rich is not _option_type:
        _typer_option_type = TyperOption.display_type_rich
        TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
        _typer_shell_complete = TyperParameter.shell_complete
        TyperParameter.shell_complete = _shell_complete  # type: ignore[method-assign]
        TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
        TyperArgument._rich_display_name = _argument_help_name  # type: ignore[method-assign]
        TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
        TyperArgument._get_number_range_help_str = _range_help  # type: ignore[method-assign]
        TyperOption._get_number_range_help_str = _range_help  # type: ignore[method-assign]
    return True


def typer_process_value(param: Any, ctx: Any, value: Any) -> Any:
    """Typer's own process_value (for the equivalence test)."""
    return (_typer_process_value or type(param).process_value)(param, ctx, value)
