"""Domain errors and the exit codes they map to.

Services raise these; the CLI turns each into one line on stderr and its exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitStatus(IntEnum):
    """Documented exit codes (see README, "Exit codes")."""

    OK = 0
    FAILED = 1  # the operation failed (render failed, database unreachable, ...)
    INVALID_INPUT = 2  # usage error or invalid input
    NOT_FOUND = 3  # no such object, or it belongs to someone else
    AUTH_REQUIRED = 4  # not logged in, or the token expired or was revoked
    CONFLICT = 5  # name taken, a render already active
    TIMEOUT = 124  # `jobs watch --timeout` ran out
    INTERRUPTED = 130  # Ctrl-C


class RenderCliError(Exception):
    """Base class: a message meant for the user and an exit status."""

    exit_status: ExitStatus = ExitStatus.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OperationFailed(RenderCliError):
    exit_status = ExitStatus.FAILED


class DatabaseUnreachable(OperationFailed):
    """The database could not be reached (down, restarting, network): one line, exit 1
    for a command; on a worker a transient outage, retried and never a job's failure."""


class InvalidInput(RenderCliError):
    exit_status = ExitStatus.INVALID_INPUT


class NotFound(RenderCliError):
    exit_status = ExitStatus.NOT_FOUND


class AuthRequired(RenderCliError):
    exit_status = ExitStatus.AUTH_REQUIRED


class Conflict(RenderCliError):
    exit_status = ExitStatus.CONFLICT


class StoreUnavailable(OperationFailed):
    """The object store (an S3 bucket) cannot be reached, or answered with a server
    error: one line, exit 1. On a worker it is a transient outage: the task is retried
    like a worker loss, never failed as bad input."""


class StoreAccessDenied(OperationFailed):
    """The object store refused the credentials: the message names the bucket/prefix and
    the permission that is missing (exit 1)."""


class ObjectMissing(OperationFailed):
    """An object is neither in the local storage directory nor in the bucket."""


class ObjectCorrupt(OperationFailed):
    """An object's bytes do not match the hash it is stored under (or that was recorded
    for it): refused, nothing cached."""


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to a misspelt `word`, or an empty
    string: the one suggestion helper of the CLI's options and the spec checks."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def shown(value: object) -> str:
    """An untrusted value as a message quotes it: its repr (no control characters reach a
    log or a terminal), cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
