"""The root command group: maps every failure to one stderr line and a documented exit code."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from rendercli.cli import typer_internals
from rendercli.cli.output import error_line
from rendercli.cli.typer_internals import ClickException, NoArgsIsHelpError, UsageError
from rendercli.errors import ExitStatus, RenderCliError

typer_internals.install()  # omitted options skip pydantic (see typer_internals)


def _debug() -> bool:
    return os.environ.get("RENDERCLI_DEBUG") not in (None, "", "0", "false")


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
            error_line(exc.format_message() + hint)
            code = exc.exit_code
        except typer.Abort:
            error_line("aborted")
            code = ExitStatus.INTERRUPTED
        except RenderCliError as exc:
            error_line(exc.message)
            code = exc.exit_status
        except KeyboardInterrupt:
            error_line("interrupted")
            code = ExitStatus.INTERRUPTED
        except BrokenPipeError:
            # `rendercli ... | head`: the reader went away; that is not our failure.
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
            code = ExitStatus.OK
        except Exception as exc:
            if _debug():
                raise
            error_line(
                f"unexpected {type(exc).__name__}: {exc} (set RENDERCLI_DEBUG=1 for a traceback)"
            )
            code = ExitStatus.FAILED
        sys.exit(int(code or 0))
