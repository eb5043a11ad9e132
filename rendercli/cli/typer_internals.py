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

   `install()` makes an omitted, optional, single-value parameter skip the adapter: the
   result is the one Typer's coercion gives (None, then the parameter's callback), and
   tests/test_startup.py checks that equivalence on every parameter of the app.

   A given value of a plain `str` parameter (PROJECT, JOB, names), and an `int` or `float`
   parameter's own default (`--limit 20`), also skip it, as Typer itself does for a bool
   flag given a bool: coercing a value to its own type returns it unchanged. The same
   test checks that equivalence too. Every other given value still goes through
   Typer's coercion.
"""

from __future__ import annotations

from typing import Any

from typer._click import Context
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import _TyperParameter as TyperParameter

__all__ = [
    "ClickException",
    "Context",
    "NoArgsIsHelpError",
    "TyperParameter",
    "UsageError",
    "install",
    "typer_process_value",
]


def _process_value(param: Any, ctx: Any, value: Any) -> Any:
    single = not (param.multiple or param.nargs == -1)
    if value is None and not param.required and single:
        return param.callback(ctx, param, None) if param.callback is not None else None
    annotation = param.type_descriptor.annotation
    plain = (isinstance(value, str) and annotation is str) or (
        value is param.default and type(value) is annotation and annotation in (int, float))
    if single and plain:
        return param.callback(ctx, param, value) if param.callback is not None else value
    return _typer_process_value(param, ctx, value)


_typer_process_value: Any = None


def install() -> bool:
    """Patch Typer's parameter class once; True when the patch is in place."""
    global _typer_process_value
    if TyperParameter.process_value is not _process_value:
        _typer_process_value = TyperParameter.process_value
        TyperParameter.process_value = _process_value  # type: ignore[method-assign]
    return True


def typer_process_value(param: Any, ctx: Any, value: Any) -> Any:
    """Typer's own process_value (for the equivalence test)."""
    return (_typer_process_value or type(param).process_value)(param, ctx, value)
