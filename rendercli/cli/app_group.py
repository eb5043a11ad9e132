"""The root command group: loads each noun's commands only when that noun runs, and maps
every failure to one stderr line and a documented exit code."""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command

from rendercli.cli.command_app import command_scope
from rendercli.cli.output import error_line
from rendercli.cli.parameters import adopt, adopt_param, param_name
from rendercli.errors import ExitStatus, RenderCliError

# Click's exceptions, reached from the one Typer exports (Click documents the chain
# BadParameter -> UsageError -> ClickException); tests/test_private_apis.py checks it.
BadParameter = typer.BadParameter
UsageError: type[Exception] = BadParameter.__base__
ClickException: type[Exception] = UsageError.__base__

_UNWRITABLE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})  # full, quota, read-only


def _debug() -> bool:
    return os.environ.get("RENDERCLI_DEBUG") not in (None, "", "0", "false")


def wants_json(args: Any) -> bool:
    """True when the command line asks for --json (before any `--`)."""
    argv = list(sys.argv[1:] if args is None else args)
    if "--" in argv:
        argv = argv[: argv.index("--")]
    from rendercli.cli.options import JSON_FLAG

    return JSON_FLAG in argv


def report(message: str, code: int, *, as_json: bool) -> None:
    """A failure on stderr: the `error: ...` line, or with --json one JSON object
    (`{"error": ..., "exit_code": ...}`), so scripts need not parse text."""
    if not as_json:
        error_line(message)
        return
    import json

    first = " ".join(message.strip().split("\n")) if message else "unknown error"
    sys.stderr.write(json.dumps({"error": first, "exit_code": int(code)},
                                ensure_ascii=False) + "\n")
    sys.stderr.flush()


# ---- Click's own messages, in the tool's style -------------------------------------------

_PYDANTIC = (
    ("Input should be a valid integer", "must be a whole number"),
    ("Input should be a valid number", "must be a number"),
    ("Input should be a valid boolean", "must be true or false"),
)


def click_message(exc: Any) -> str:
    """A Click error as one `error: ...` message: lower-case, no trailing period, the
    parameter named as the user typed it."""
    if isinstance(exc, BadParameter) and exc.param is not None:
        if type(exc).__name__ == "MissingParameter":  # Click's BadParameter subclass
            kind = "option" if exc.param.param_type_name == "option" else "argument"
            return f"missing {kind} {param_name(exc.param)}"
        message = exc.message
        for start, replacement in _PYDANTIC:
            if message.startswith(start):
                message = replacement
                break
        return f"invalid value for {param_name(exc.param)}: {_lower(message)}"
    return _lower(exc.format_message())  # type: ignore[attr-defined]


def _lower(text: str) -> str:
    text = text.strip().rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return text


def _no_args_is_help(exc: Any) -> bool:
    """Click's NoArgsIsHelpError (a group given no command): its message is the help."""
    return exc.ctx is not None and exc.message == exc.ctx.get_help()


# ---- the nouns, loaded when used ---------------------------------------------------------


class LazyCommands(Mapping[str, Any]):
    """Name -> command, importing a command's module the first time it is looked up.

    `table` maps each name to (`module:attribute`, help): the attribute is a Typer app
    (a noun with sub-commands) or a function (a command of its own).
    """

    def __init__(self, root: Any, table: Mapping[str, tuple[str, str]]) -> None:
        self.root = root
        self.table = table
        self.loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded:
            target, _help = self.table[name]  # KeyError: not a command
            module, attribute = target.split(":")
            obj = getattr(importlib.import_module(module), attribute)
            if not isinstance(obj, typer.Typer):
                single = typer.Typer(add_completion=False, rich_markup_mode=None)
                single.command(name)(obj)
                obj = single
            command = get_command(obj)
            root = typer.Context(self.root, info_name=self.root.name,
                                 **self.root.context_settings)
            self.loaded[name] = adopt(command, typer.Context(command, info_name=name,
                                                             parent=root))
        return self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def summary(self, name: str) -> Any:
        """A stand-in command that has only `name`'s help, for the root's command list."""
        return TyperCommand(name=name, help=self.table[name][1])


_LOCKED = ("the database is busy: another session has held a lock on data this command "
           "needs for longer than RENDERCLI_LOCK_TIMEOUT; try again")


def _lock_timed_out(exc: BaseException) -> bool:
    from rendercli.db.rows import lock_timed_out

    return lock_timed_out(exc)


class RenderCliGroup(TyperGroup):
    """The root: commands from `table` (main.py), each loaded on first use; runs Click
    non-standalone and does its own reporting, so output is one line."""

    table: Mapping[str, tuple[str, str]] = {}  # name -> (`module:attribute`, help)

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        if self.table:  # without a table: the commands Typer registered, as usual
            self.commands = LazyCommands(self, self.table)

    def get_params(self, ctx: Any) -> list[Any]:
        # The root's own options, with the completion options Typer appends after
        # making the group, and --help (commands are adopted as they load).
        params = super().get_params(ctx)
        for param in params:
            adopt_param(param)
        return params

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list from the table's help, without importing any command."""
        commands = self.commands
        if not isinstance(commands, LazyCommands):
            super().format_commands(ctx, formatter)
            return
        limit = formatter.width - 6 - max(len(name) for name in commands)
        rows = [(name, commands.summary(name).get_short_help_str(limit)) for name in commands]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        with command_scope():
            return self._main(args, prog_name, complete_var, standalone_mode, **extra)

    def _main(self, args: Any, prog_name: Any, complete_var: Any, standalone_mode: bool,
              **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        as_json = wants_json(args)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as exc:
            if isinstance(exc, UsageError) and _no_args_is_help(exc):
                typer.echo(exc.ctx.get_help())  # type: ignore[attr-defined]
                sys.exit(int(ExitStatus.INVALID_INPUT))
            hint = ""
            if exc.ctx is not None and isinstance(exc, UsageError):
                hint = f" (see '{exc.ctx.command_path} --help')"
            code = exc.exit_code  # type: ignore[attr-defined]
            report(click_message(exc) + hint, code, as_json=as_json)
        except typer.Abort:
            code = ExitStatus.INTERRUPTED
            report("aborted", code, as_json=as_json)
        except RenderCliError as exc:
            code = exc.exit_status
            report(exc.message, code, as_json=as_json)
        except KeyboardInterrupt:
            code = ExitStatus.INTERRUPTED
            report("interrupted", code, as_json=as_json)
        except BrokenPipeError:
            # `rendercli ... | head`: the reader went away; that is not our failure.
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
            code = ExitStatus.OK
        except Exception as exc:
            if _debug():
                raise
            code = ExitStatus.FAILED
            if _lock_timed_out(exc):
                report(_LOCKED, code, as_json=as_json)
                sys.exit(int(code))
            if isinstance(exc, OSError) and exc.errno in _UNWRITABLE:
                # A full, over-quota or read-only disk is no surprise: say which one.
                where = f": {exc.filename}" if exc.filename else ""
                report(f"cannot write: {exc.strerror}{where}", code, as_json=as_json)
            else:
                report(f"unexpected {type(exc).__name__}: {exc} (set RENDERCLI_DEBUG=1 for "
                       "a traceback)", code, as_json=as_json)
        sys.exit(int(code or 0))
