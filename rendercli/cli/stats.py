"""stats: your renders in numbers."""

from __future__ import annotations

from rendercli.cli import context, output
from rendercli.cli.options import JSON_OPTION
from rendercli.services import stats as stats_service


def stats(json_output: bool = JSON_OPTION) -> None:
    """Show your renders by status, success rate, render times, output minutes and
    busiest projects. Success rate is completed / (completed + failed).

    Example: rendercli stats --json
    """
    user = context.require_user_recovering()
    result = stats_service.for_user(context.uow(), user.id)
    if json_output:
        output.print_json(result)
        return

    rate = None if result.success_rate is None else output.Percent(result.success_rate * 100)
    output.print_fields(
        [
            ("renders", result.total),
            *((status, count) for status, count in result.by_status.items()),
            ("success rate", rate),
            ("median render time", output.Seconds(result.median_render_seconds)),
            ("95th percentile", output.Seconds(result.p95_render_seconds)),
            ("output", f"{result.output_minutes:.2f} min"),
        ]
    )
    if result.busiest_projects:
        output.say("")
        output.print_table(
            ["PROJECT", "RENDERS", "COMPLETED", "OUTPUT MIN"],
            [
                (p.project_name, p.renders, p.completed, f"{p.output_minutes:.2f}")
                for p in result.busiest_projects
            ],
        )
