"""demo: a real render on the embedded default, with no set-up at all."""

from __future__ import annotations

from pathlib import Path

import typer

from rendercli.cli import context, output
from rendercli.cli.options import JSON_OPTION


def demo(
    output_path: Path | None = typer.Option(
        None, "--output", "-o", help="Also copy the video here."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Render a demo video: sample clips, a still and music, with a live progress bar.

    Creates sample media, a demo account with a session, and a project, then renders it.
    Runs again any time (the second run is served from the render cache).

    Example: rendercli demo --output demo.mp4
    """
    from rendercli.cli.renders import check_output, follow
    from rendercli.render.samples import make_samples
    from rendercli.services import demo as demo_service
    from rendercli.services.renders import submit as renders

    target = check_output(output_path, waiting=True)
    if not json_output:
        output.note(f"Making sample media in {demo_service.samples_dir()} ...")
    samples = make_samples(demo_service.samples_dir())
    prepared = demo_service.prepare(context.uow(), samples)
    started = renders.start(
        context.uow(),
        prepared.user.id,
        prepared.project_id,
        renders.RenderRequest(preset="720p", format="mp4", fps=30),
    )
    job = follow(started, prepared.user.id, wait=True, target=target, json_output=json_output)
    if not json_output and job.status == "completed":
        output.note(
            f"Demo project {prepared.project_id}: {prepared.asset_count} assets. Explore it:\n"
            f"  export RENDERCLI_TOKEN={prepared.token}   # a demo session, valid for a day\n"
            "  rendercli asset list demo; rendercli jobs list\n"
            "Your own account: rendercli register --email you@example.com"
        )
