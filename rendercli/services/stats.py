"""Render statistics for one user, from their render jobs."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from rendercli.db.statuses import JOB_STATUSES
from rendercli.repositories.projects import render_history
from rendercli.services.unit_of_work import UnitOfWork

BUSIEST = 5


@dataclass(frozen=True)
class ProjectStats:
    project_id: str
    project_name: str
    renders: int
    completed: int
    output_minutes: float


@dataclass(frozen=True)
class RenderStats:
    total: int
    by_status: dict[str, int]
    success_rate: float | None  # completed / (completed + failed); cancellations excluded
    median_render_seconds: float | None  # completed renders, start to finish
    p95_render_seconds: float | None
    output_minutes: float  # total duration of completed outputs
    busiest_projects: list[ProjectStats]


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (pct in 0..100) of the values; None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def for_user(uow: UnitOfWork, user_id: str) -> RenderStats:
    """The user's renders by status, success rate, render times, output and busiest projects."""
    with uow:
        rows = render_history(uow.rows, user_id)
    by_status = {status: 0 for status in JOB_STATUSES}
    durations: list[float] = []
    output_seconds = 0.0
    per_project: Counter[tuple[str, str]] = Counter()
    completed_per_project: Counter[str] = Counter()
    minutes_per_project: Counter[str] = Counter()
    for row in rows:
        status, started, finished = row["status"], row["started_at"], row["finished_at"]
        output_duration, project_id, name = (row["output_duration"], row["project_id"],
                                             row["project_name"])
        by_status[status] += 1
        per_project[(project_id, name)] += 1
        if status == "completed":
            completed_per_project[project_id] += 1
            output_seconds += output_duration or 0.0
            minutes_per_project[project_id] += (output_duration or 0.0) / 60
            if started is not None and finished is not None:
                durations.append((finished - started).total_seconds())
    decided = by_status["completed"] + by_status["failed"]
    busiest = [
        ProjectStats(project_id=pid, project_name=name, renders=count,
                     completed=completed_per_project[pid],
                     output_minutes=round(minutes_per_project[pid], 3))
        for (pid, name), count in sorted(per_project.items(), key=lambda kv: (-kv[1], kv[0][1]))
    ][:BUSIEST]
    median = percentile(durations, 50)
    p95 = percentile(durations, 95)
    return RenderStats(
        total=len(rows),
        by_status=by_status,
        success_rate=round(by_status["completed"] / decided, 4) if decided else None,
        median_render_seconds=None if median is None else round(median, 3),
        p95_render_seconds=None if p95 is None else round(p95, 3),
        output_minutes=round(output_seconds / 60, 3),
        busiest_projects=busiest,
    )
