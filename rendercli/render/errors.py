"""Errors raised by the render engine."""

from __future__ import annotations

from rendercli.errors import OperationFailed


class RenderFailed(OperationFailed):
    """ffmpeg failed. ``reason`` is one line (the last meaningful stderr line); ``log`` is all."""

    def __init__(self, reason: str, log: str = "") -> None:
        super().__init__(f"render failed: {reason}")
        self.reason = reason
        self.log = log


class RenderCancelled(OperationFailed):
    """The render was cancelled by the caller; ffmpeg was stopped and nothing was published."""

    def __init__(self, message: str = "render cancelled") -> None:
        super().__init__(message)


class RenderTimedOut(OperationFailed):
    """The render ran past its time limit; ffmpeg was stopped and nothing was published."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"render timed out after {timeout:g} s")
        self.timeout = timeout
