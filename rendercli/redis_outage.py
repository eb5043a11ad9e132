"""A render worker's Redis client: it waits out an outage instead of failing.

Redis only wakes workers (the database rows are the truth), so a worker has nothing
better to do while Redis is away than wait for it: its running task goes on (its
heartbeats and result go to the database), and RQ's own bookkeeping for it resumes when
Redis is back. Every command of the worker's client (and of its work horse, a fork)
retries with exponential backoff, at most MAX_WAIT seconds apart, for as long as the
outage lasts; the worker logs one line when an outage starts and one when it ends.
Only a worker that is stopping gives up at once (`give_up`), so SIGTERM still works.

Commands (`render submit`, `jobs ...`) keep their short timeouts (dispatch.redis_connection):
they report "dispatch is pending" and leave the rest to the reconciler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis import ConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

FIRST_WAIT = 0.5  # seconds before the first retry; doubled each time...
MAX_WAIT = 15.0  # ...up to this
# What an unreachable Redis raises (a socket timeout is the builtin TimeoutError).
OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, TimeoutError)


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` failures in a row."""
    return float(ExponentialBackoff(cap=MAX_WAIT, base=FIRST_WAIT).compute(failures))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return repr(text[:200])  # repr: nothing from a socket error reaches a terminal raw


class Outage:
    """One process's view of Redis being away: logged once when it starts and once when
    it ends, whichever thread notices. `give_up()` says to stop waiting (the worker is
    stopping); `on_end` runs when Redis answers again."""

    def __init__(self, who: str, log: logging.Logger, give_up: Callable[[], bool],
                 on_end: Callable[[], None] | None = None) -> None:
        self.who = who
        self.log = log
        self.give_up = give_up
        self.on_end = on_end
        self._since: float | None = None
        # Re-entrant: RQ's signal handlers talk to Redis, and may run in the middle of this.
        self._lock = threading.RLock()

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> bool:
        """Note a failed attempt. True: wait and try again; False: give up (stopping)."""
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                self.log.warning(
                    "%s: Redis is unreachable (%s); waiting for it, retrying with backoff "
                    "(at most every %.0f s)", self.who, _one_line(error), MAX_WAIT)
        return not self.give_up()

    def ended(self) -> None:
        """Redis answered: log the end of an outage, if there was one."""
        if self._since is None:
            return
        with self._lock:
            if self._since is None:
                return
            self.log.warning("%s: Redis is reachable again (it was away %.0f s)", self.who,
                             time.monotonic() - self._since)
            self._since = None
        if self.on_end is not None:
            self.on_end()

    def forget(self) -> None:
        """Start afresh (in a new process: the outage state of the parent is not ours)."""
        self._since = None
        self._lock = threading.RLock()


class PatientPool(ConnectionPool):
    """A connection pool whose `get_connection` waits (with backoff) until Redis
    answers, instead of raising. redis-py connects outside its Retry policy; this
    covers that step (the Retry set by `make_patient` covers the commands)."""

    outage: Outage

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        failures = 0
        while True:
            try:
                connection = super().get_connection(*args, **kwargs)
            except OUTAGE_ERRORS as exc:
                failures += 1
                if not self.outage.failed(exc):
                    raise
                time.sleep(backoff(failures))
                continue
            self.outage.ended()
            return connection


def make_patient(connection: Redis, outage: Outage) -> None:
    """Make `connection` (and everything sharing it: queues, jobs, registries) wait out
    outages (see the module docstring). Its pool keeps its state and settings; only its
    class changes, to a PatientPool over the class it had."""
    pool = connection.connection_pool
    if not isinstance(pool, PatientPool):
        if not isinstance(pool, ConnectionPool):
            raise TypeError(f"cannot make a {type(pool).__name__} wait out outages")
        pool.__class__ = type(f"Patient{type(pool).__name__}", (PatientPool, type(pool)), {})
    pool.outage = outage  # type: ignore[attr-defined]

    def retryable(error: Exception) -> bool:  # a function: each connection deep-copies
        return outage.failed(error)           # its Retry, and must share the outage

    # Retries forever, except when stopping; `retryable` also logs the outage once.
    connection.set_retry(Retry(ExponentialBackoff(cap=MAX_WAIT, base=FIRST_WAIT), -1,
                               supported_errors=OUTAGE_ERRORS, is_retryable=retryable))
