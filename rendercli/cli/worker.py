"""worker: run a render worker for the farm (RQ, queue `render-video`)."""

from __future__ import annotations

import logging

import typer

from rendercli.cli.context import app
from rendercli.errors import InvalidInput, OperationFailed
from rendercli.services.renders import dispatch


def worker(
    burst: bool = typer.Option(False, "--burst", help="Exit when the queue is empty."),
    name: str | None = typer.Option(None, "--name", help="Worker name (default: host.pid)."),
) -> None:
    """Run a render worker: takes jobs from the `render-video` queue until stopped.

    Needs RENDERCLI_REDIS_URL, RENDERCLI_DATABASE_URL and RENDERCLI_STORAGE_DIR (shared
    with every other machine). Same as:
    rq worker -w rendercli.worker.RenderWorker -S rq.serializers.JSONSerializer render-video

    Example: RENDERCLI_REDIS_URL=redis://redis:6379/0 rendercli worker
    """
    from rendercli.worker import RenderWorker

    settings = app().settings
    if settings.redis_url is None:
        raise InvalidInput(
            "the worker needs RENDERCLI_REDIS_URL; without it rendercli "
            "renders inline in `render submit`"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from redis.exceptions import RedisError


    connection = dispatch.redis_connection(settings.redis_url)
    try:
        connection.ping()
    except RedisError as exc:
        raise OperationFailed(
            f"cannot reach Redis at RENDERCLI_REDIS_URL: {' '.join(str(exc).split())}"
        ) from None
    queue = dispatch.render_queue(connection)
    RenderWorker([queue], connection=connection, name=name).work(burst=burst)
