"""The render engine core: pure (no database), driven by a timeline and settings.

Public API (importable from here; loaded lazily so importing the package is cheap):
``render_timeline``, ``validate_settings``, ``validate_timeline``, ``TimelineItem``,
``RenderSettings``, ``RenderResult``, ``ENGINE_VERSION`` and the errors ``RenderFailed``,
``RenderCancelled``, ``RenderTimedOut``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ENGINE_VERSION",
    "RenderCancelled",
    "RenderFailed",
    "RenderResult",
    "RenderSettings",
    "RenderTimedOut",
    "TimelineItem",
    "render_timeline",
    "validate_settings",
    "validate_timeline",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rendercli.render import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'rendercli.render' has no attribute {name!r}")
