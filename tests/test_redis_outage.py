"""The render worker's Redis client against a real Redis that goes away and comes back."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from rendercli.redis_outage import Outage, make_patient
from tests.servers import RedisServer


def test_a_patient_client_waits_out_an_outage_and_says_so_once(
        redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    if redis_server.external:
        pytest.skip("needs a Redis the tests can stop")
    client = Redis.from_url(redis_server.url, socket_connect_timeout=1, socket_timeout=5)
    client.ping()
    stopping, ended = threading.Event(), threading.Event()
    outage = Outage("Worker t", logging.getLogger("test.outage"), give_up=stopping.is_set,
                    on_end=ended.set)
    make_patient(client, outage)
    caplog.set_level(logging.INFO, logger="test.outage")
    redis_server.stop()
    back = threading.Timer(3.0, redis_server.start)
    back.start()
    try:
        started = time.monotonic()
        assert client.set("outage-key", "v")  # waits for Redis instead of failing
        assert time.monotonic() - started >= 2.5
        assert client.get("outage-key") == b"v"
    finally:
        back.join()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Worker t: Redis is unreachable" in m for m in messages) == 1, messages
    assert sum("Worker t: Redis is reachable again" in m for m in messages) == 1, messages
    assert ended.is_set() and not outage.ongoing

    # A worker that is stopping does not wait: the error comes at once.
    redis_server.stop()
    try:
        stopping.set()
        started = time.monotonic()
        with pytest.raises(RedisConnectionError):
            client.get("outage-key")
        assert time.monotonic() - started < 2
    finally:
        redis_server.start()
