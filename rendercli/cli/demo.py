"""demo: a real render on the embedded default, with no set-up at all."""

from __future__ import annotations

from pathlib import Path

from rendercli.cli import context, output
from rendercli.cli.options import FORCE_OPTION, JSON_OPTION, output_option
from rendercli.cli.renders import check_output, follow
from rendercli.render.samples import make_samples
from rendercli.services import demo as demo_service
from rendercli.services.renders import submit


def demo(
    output_path: Path | None = output_option("Also copy the video to FILE."),
    force: bool = FORCE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Render a 10-second demo video showing off the engine, with a live progress bar.

    Creates sample media, a demo account with a session, and a project: a title card
    crossfading into a clip with a lower-third text, a slow zoom on a still, a fade
    through black and music ducked under the clips' sound. Then renders it. Runs again
    any time (the second run is served from the render cache).

    Example: rendercli demo --output demo.mp4
    """
    target = check_output(output_path, waiting=True, force=force)
    samples_dir = demo_service.samples_dir(context.settings().data_dir)
    if not json_output:
        output.note(f"Making sample media in {samples_dir} ...")
    samples = make_samples(samples_dir)
    prepared = demo_service.prepare(context.uow(), samples)
    context.app().acting_as(prepared.token)
    started = submit.start(
        context.uow(),
        prepared.user.id,
        prepared.project_id,
        submit.RenderRequest(preset="720p", format="mp4", fps=30),
    )
    job = follow(started, prepared.user.id, wait=True, target=target, json_output=json_output,
                 force=force)
    if not json_output and job.status == "completed":
        # The demo session is set per command, never exported: an exported token would
        # silently override the user's own login later (RENDERCLI_TOKEN takes precedence).
        demo_env = f"RENDERCLI_TOKEN={prepared.token}"
        output.note(
            f"Demo project {prepared.project_id}: {prepared.asset_count} assets. Explore it as "
            "the demo user (a session valid for a day, set for that one command only):\n"
            f"  {demo_env} rendercli asset list demo\n"
            f"  {demo_env} rendercli project storyboard demo\n"
            + ("Your own project, no account needed here: rendercli project create NAME"
               if context.settings().is_sqlite else
               "Your own account: rendercli register --email you@example.com (if you "
               "exported the demo token, `unset RENDERCLI_TOKEN` first)")
        )
