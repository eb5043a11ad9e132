"""Many queued render jobs in a few statements, for tests and benchmarks of what job
commands cost with a long queue: one project per job (one active job per project), both
written with one multi-row INSERT each (PostgreSQL `unnest` of arrays)."""

from __future__ import annotations

from datetime import timedelta

from rendercli.db.clock import utcnow
from rendercli.db.ids import new_id


def fill_queue(owner_url: str, user_id: str, count: int, *, dispatched: bool = True,
               age: timedelta = timedelta(minutes=5), prefix: str = "queued") -> list[str]:
    """Insert `count` queued jobs of `user_id` (as the schema owner, psycopg directly),
    created `age` ago and marked dispatched or not. Returns the job ids."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(owner_url).set(drivername="postgresql")
    created = utcnow() - age
    projects = [new_id() for _ in range(count)]
    jobs = [new_id() for _ in range(count)]
    names = [f"{prefix}-{n}" for n in range(count)]
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        conn.execute(
            "INSERT INTO projects (id, owner_id, name, created_at, updated_at) "
            "SELECT p, %(user)s, n, %(at)s, %(at)s FROM unnest(%(p)s::text[], %(n)s::text[]) "
            "AS x(p, n)", {"user": user_id, "at": created, "p": projects, "n": names})
        conn.execute(
            "INSERT INTO render_jobs (id, project_id, owner_id, status, progress, preset, "
            "format, fps, quality, use_cache, attempts, dispatched_at, created_at, updated_at) "
            "SELECT j, p, %(user)s, 'queued', 0, '480p', 'mp4', 10, 'draft', true, 0, "
            "%(sent)s, %(at)s, %(at)s FROM unnest(%(j)s::text[], %(p)s::text[]) AS x(j, p)",
            {"user": user_id, "sent": created if dispatched else None, "at": created,
             "j": jobs, "p": projects})
    return jobs
