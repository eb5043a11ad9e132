"""Render job statuses (no SQLAlchemy here: the light read path uses them too)."""

from __future__ import annotations

JOB_STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
ACTIVE_JOB_STATUSES = ("queued", "processing")
FINISHED_STATUSES = ("completed", "failed", "cancelled")
