"""Storage housekeeping: remove what killed renders and ingests left behind."""

from __future__ import annotations

import logging

from rendercli.config import get_settings

log = logging.getLogger(__name__)


def sweep_storage() -> int:
    """Remove temp files of renders and ingests older than a job may run; returns the count."""
    from rendercli.render.cache import sweep_leftovers
    from rendercli.storage import clean_temp_files

    settings = get_settings()
    grace = settings.job_timeout + 3600
    removed = sweep_leftovers(settings.storage_dir, older_than=grace)
    removed += clean_temp_files(settings.storage_dir, older_than=grace)
    if removed:
        log.info("removed %d leftover temp files", removed)
    return removed
