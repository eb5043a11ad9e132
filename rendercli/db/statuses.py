"""Render job statuses and task states, `str` enums: a member equals its value and formats
as it (`f"'{JobStatus.QUEUED}'"` is SQL text `'queued'`). No SQLAlchemy here."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TaskState = JobStatus  # a task's state: the same five words as a job's status


# Plain strings (their repr is SQL text, as the schema's CHECK and some queries use them).
JOB_STATUSES = tuple(s.value for s in JobStatus)
ACTIVE_JOB_STATUSES = (JobStatus.QUEUED.value, JobStatus.PROCESSING.value)
FINISHED_STATUSES = tuple(s for s in JOB_STATUSES if s not in ACTIVE_JOB_STATUSES)
