"""The running command's application object (rendercli.app): made on first use inside
the command and dropped when the command ends, so two commands run in one process (tests,
shell completion) never share settings or a caller."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rendercli.app import App

_command_app: ContextVar[App | None] = ContextVar("rendercli_command_app", default=None)


def command_app() -> App:
    """The application object of the command being run (built on first use)."""
    current = _command_app.get()
    if current is None:
        from rendercli.app import App

        current = App.from_environment()
        _command_app.set(current)
    return current


@contextmanager
def command_scope() -> Iterator[None]:
    """One command's lifetime: a new application object inside, the old one after."""
    token = _command_app.set(None)
    try:
        yield
    finally:
        _command_app.reset(token)
