"""doctor: check the installation and the farm, with a hint for everything that fails."""

from __future__ import annotations

import typer

from rendercli.cli import output
from rendercli.cli.options import JSON_OPTION
from rendercli.credentials import keyring_backend_name, load_token
from rendercli.services.doctor import run_checks


def doctor(json_output: bool = JSON_OPTION) -> None:
    """Check configuration, database, Redis and workers, storage, ffmpeg, keyring and login.

    With RENDERCLI_STORAGE_URL, the S3 bucket too: reachable, credentials accepted, a
    probe object written, read back and deleted, clock skew. Exit 1 if a required check
    fails (database, Redis when configured, storage, the bucket, ffmpeg).

    Example: rendercli doctor --json
    """
    from rendercli.cli.context import app
    from rendercli.credentials import load_local_token

    settings = app().settings
    stored = load_token(settings) or (load_local_token(settings) if settings.is_sqlite else None)
    checks = run_checks(app().unit_of_work(), keyring_backend_name(settings),
                        stored.token if stored else None, stored.source if stored else "")
    healthy = all(c.ok for c in checks if c.required)
    if json_output:
        output.print_json({"ok": healthy, "checks": checks})
    else:
        for check in checks:
            mark = "✓" if check.ok else ("✗" if check.required else "!")
            line = f"{mark} {check.name}: {check.detail}"
            if check.hint:
                line += f"\n    hint: {check.hint}"
            output.say(line)
    if not healthy:
        raise typer.Exit(1)
