"""The root command group: maps every failure to one stderr line and a documented exit code."""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from rendercli.cli import typer_internals
from rendercli.cli.output import error_line
from rendercli.cli.typer_internals import (
    ClickException,
    NoArgsIsHelpError,
    UsageError,
    click_message,
)
from rendercli.errors import ExitStatus, RenderCliError

_UNWRITABLE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})  # as storage.py says

typer_internals.install()  # omitted options skip pydantic (see typer_internals)


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


_LOCKED = ("the database is busy: another session has held a lock on data this command "
           "needs for longer than RENDERCLI_LOCK_TIMEOUT; try again")


def _lock_timed_out(exc: BaseException) -> bool:
    from rendercli.db.rows import lock_timed_out

    return lock_timed_out(exc)


class RenderCliGroup(TyperGroup):
    """Runs Click non-standalone and does its own reporting, so output is one line."""

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        as_json = wants_json(args)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            assert exc.ctx is not None
            typer.echo(exc.ctx.get_help())
            code = ExitStatus.INVALID_INPUT
        except ClickException as exc:
            hint = ""
            if exc.ctx is not None and isinstance(exc, UsageError):
                hint = f" (see '{exc.ctx.command_path} --help')"
            code = exc.exit_code
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
