"""The render engine core: pure (no database), driven by a timeline and settings.

Public API: ``render_timeline``, ``validate_settings``, ``validate_timeline``,
``TimelineItem``, ``RenderSettings``, ``RenderResult`` and the errors ``RenderFailed``,
``RenderCancelled``, ``RenderTimedOut``. Submodules are imported lazily by callers.
"""
