"""Job commands do a bounded amount of upkeep however many jobs are queued (issue 21):
the Redis commands and SQL statements of `jobs list` and `jobs status` are counted on the
suite's real Redis (INFO commandstats) and real PostgreSQL (every statement psycopg
sends), with 20 and with 2,000 queued jobs. The recovery and dispatch promises stay true:
a dead render is handed back and re-queued by `jobs status` alone, and rows Redis never
saw are dispatched by commands a few at a time, rate-limited, and by workers in full."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from rendercli.services.unit_of_work import UnitOfWork
from tests.conftest import Account
from tests.farm import Farm
from tests.queue_fill import fill_queue
from tests.test_render_tasks import split_job  # noqa: F401  (a fixture)

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

MAX_REDIS_COMMANDS = 5


def _calls(redis: Redis) -> dict[str, int]:
    stats = redis.info("commandstats")
    return {name: int(v["calls"]) for name, v in stats.items() if name != "cmdstat_info"}


@contextmanager
def counted(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts what the block sends: Redis commands (server-side, all clients) and SQL
    statements (every psycopg cursor execute in this process, ORM or plain SQL)."""
    counts = {"redis": 0, "sql": 0}
    real = psycopg.Cursor.execute

    def execute(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        counts["sql"] += 1
        return real(self, *args, **kwargs)

    before = _calls(redis)
    with monkeypatch.context() as patch:
        patch.setattr(psycopg.Cursor, "execute", execute)
        yield counts
    after = _calls(redis)
    counts["redis"] = sum(after.values()) - sum(before.values())


def _user_id(account: Account) -> str:
    return json.loads(account.ok("whoami", "--json").stdout)["id"]


def _stamp(tmp_path: Path) -> Path:
    return tmp_path / "data" / "dispatch-checked"


def _cost(alice: Account, redis: Redis, monkeypatch: pytest.MonkeyPatch,
          *args: str) -> dict[str, int]:
    with counted(redis, monkeypatch) as counts:
        alice.ok(*args)
    return counts


def test_jobs_list_and_status_cost_the_same_with_20_or_2000_queued_jobs(
        alice: Account, farm: Farm, database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    redis = Redis.from_url(farm.redis.url)
    user = _user_id(alice)
    few = fill_queue(database_url, user, 20, prefix="few")
    alice.ok("jobs", "list")  # connections, the schema check: warm, as in later calls
    costs = {}
    for count, jobs in ((20, few), (2000, few + fill_queue(database_url, user, 1980))):
        _stamp(tmp_path).unlink(missing_ok=True)  # the rate-limited check is due, too
        listed = _cost(alice, redis, monkeypatch, "jobs", "list", "--json")
        status = _cost(alice, redis, monkeypatch, "jobs", "status", jobs[-1], "--json")
        costs[count] = (listed, status)
        assert listed["redis"] <= MAX_REDIS_COMMANDS and status["redis"] <= MAX_REDIS_COMMANDS
    # Bounded: the same statements and commands whatever the length of the queue.
    assert costs[20] == costs[2000], costs
    assert costs[2000][0]["sql"] <= 15, costs  # token, schema check, probe, list


def _rows_read(plan: dict, table: str) -> int:  # type: ignore[type-arg]
    """Rows the scans of `table` returned, over an EXPLAIN (ANALYZE, FORMAT JSON) plan."""
    found = (plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1)
             if plan.get("Relation Name") == table else 0)
    return found + sum(_rows_read(child, table) for child in plan.get("Plans", []))


def test_jobs_list_reads_only_the_rows_it_shows_from_an_account_with_2000_projects(
        alice: Account, bob: Account, database_url: str) -> None:
    """As the client login under row security, after the planner has statistics:
    listing the newest 20 of 2,000 jobs in 2,000 projects (one `render batch`'s worth)
    reads 20 job rows, not 2,000 (it read and sorted them all when row security
    matched jobs through the array of the account's project ids)."""
    from rendercli.repositories.jobs import JOBS_SQL, job_rows

    fill_queue(database_url, _user_id(bob), 500, prefix="bob")  # someone else's queue too
    user = _user_id(alice)
    fill_queue(database_url, user, 2000)
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as owner:
        owner.execute("ANALYZE")
    uow = UnitOfWork(token=alice.token)
    with uow:
        newest = job_rows(uow.rows, user, limit=20)
        sql = (JOBS_SQL + " ORDER BY j.created_at DESC, j.id DESC LIMIT :limit")
        plan = uow.rows.scalar("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, user_id=user, limit=20)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert len(newest) == 20 and all(row["project_name"].startswith("queued-")
                                     for row in newest)
    assert _rows_read(plan[0]["Plan"], "render_jobs") <= 21, plan


def test_rows_redis_never_saw_are_dispatched_by_commands_a_few_at_a_time(
        alice: Account, farm: Farm, database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rendercli.services import upkeep
    from rendercli.services.renders.dispatch import RENDER_QUEUE

    redis = Redis.from_url(farm.redis.url)
    user = _user_id(alice)
    young = fill_queue(database_url, user, 5, dispatched=False, age=timedelta(seconds=5),
                       prefix="young")
    # Each fill's rows are made at one time, so they go out by id: sorted, lost[:n] are next.
    lost = sorted(fill_queue(database_url, user, 2000, dispatched=False))
    queue = f"rq:queue:{RENDER_QUEUE}"
    first = _cost(alice, redis, monkeypatch, "jobs", "list")
    sent = [i.decode() for i in redis.lrange(queue, 0, -1)]
    # The oldest LIMIT rows, one pipelined read, one pipeline, one UPDATE; never the
    # young rows (their submit may still be enqueuing them).
    assert sorted(sent) == lost[:upkeep.DISPATCH_LIMIT]
    assert not set(young) & set(sent)
    assert first["redis"] <= 12 * upkeep.DISPATCH_LIMIT
    # Rate-limited: the next command sends nothing to Redis and dispatches nothing.
    again = _cost(alice, redis, monkeypatch, "jobs", "list")
    assert again["redis"] == 0 and redis.llen(queue) == upkeep.DISPATCH_LIMIT
    # Once the interval has passed, the next LIMIT rows; none twice.
    _stamp(tmp_path).unlink()
    alice.ok("jobs", "status", lost[0])
    sent = [i.decode() for i in redis.lrange(queue, 0, -1)]
    assert sorted(sent) == sorted(lost[:2 * upkeep.DISPATCH_LIMIT])
    # The same work with 2,000 lost rows as with 60.
    few = sorted(fill_queue(database_url, user, 60, dispatched=False, prefix="few"))
    with psycopg.connect(database_url.replace("+psycopg", "")) as owner:
        owner.execute("UPDATE render_jobs SET status = 'cancelled' WHERE id = ANY(%s)",
                      [lost[2 * upkeep.DISPATCH_LIMIT:]])
    redis.flushdb()
    _stamp(tmp_path).unlink()
    small = _cost(alice, redis, monkeypatch, "jobs", "list")
    assert sorted(i.decode() for i in redis.lrange(queue, 0, -1)) == sorted(
        few[:upkeep.DISPATCH_LIMIT])
    assert small == first, (small, first)


def test_a_dead_render_is_handed_back_and_requeued_by_jobs_status_alone(
        alice: Account, farm: Farm, database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No worker alive, 2,000 jobs queued: `jobs status` of the dead render re-queues it
    (past RENDERCLI_HEARTBEAT_TIMEOUT) and puts it back on the queue at once."""
    from rendercli.services.renders.dispatch import RENDER_QUEUE

    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", "60")
    redis = Redis.from_url(farm.redis.url)
    user = _user_id(alice)
    fill_queue(database_url, user, 2000)
    dead = fill_queue(database_url, user, 1, prefix="dead")[0]
    with psycopg.connect(database_url.replace("+psycopg", "")) as owner:
        owner.execute(
            "UPDATE render_jobs SET status = 'processing', worker_name = 'gone', "
            "attempts = 1, heartbeat_at = now() - interval '61 seconds', "
            "started_at = now() - interval '2 minutes' WHERE id = %s", [dead])
    _stamp(tmp_path).parent.mkdir(parents=True, exist_ok=True)
    _stamp(tmp_path).touch()  # only the recovery path may send anything
    cost = _cost(alice, redis, monkeypatch, "jobs", "status", dead, "--json")
    job = json.loads(alice.ok("jobs", "status", dead, "--json").stdout)
    assert job["status"] == "queued" and job["attempts"] == 1
    assert [i.decode() for i in redis.lrange(f"rq:queue:{RENDER_QUEUE}", 0, -1)] == [dead]
    assert cost["redis"] <= 20, cost
    assert "attempt 1 lost: worker gone stopped heartbeating" in alice.ok(
        "jobs", "logs", dead).stdout


def test_a_dead_task_is_handed_back_and_requeued_by_jobs_status_alone(
        alice: Account, farm: Farm, database_url: str, sessions,  # type: ignore[no-untyped-def]
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A split render's task whose worker died, while its job's own heartbeat is fresh
    and 2,000 jobs are queued: `jobs status` alone hands the task back and queues it."""
    from rendercli.services.renders import tasks
    from rendercli.services.renders.dispatch import RENDER_QUEUE

    monkeypatch.setenv("RENDERCLI_HEARTBEAT_TIMEOUT", "60")
    redis = Redis.from_url(farm.redis.url)
    user, job_id, created = request.getfixturevalue("split_job")
    fill_queue(database_url, user, 2000)
    lost = tasks.claim(created[0].id, "doomed", uow=UnitOfWork(sessions.url))
    assert lost is not None
    with psycopg.connect(database_url.replace("+psycopg", "")) as owner:
        owner.execute("UPDATE render_tasks SET heartbeat_at = now() - interval '61 seconds' "
                      "WHERE id = %s", [lost.task_id])
    _stamp(tmp_path).parent.mkdir(parents=True, exist_ok=True)
    _stamp(tmp_path).touch()
    alice.ok("jobs", "status", job_id)
    with UnitOfWork(sessions.url) as uow:
        [view] = [v for v in tasks.task_views(uow.rows, job_id) if v.id == lost.task_id]
    assert view.state == "queued" and view.attempts == 1
    assert lost.task_id in [i.decode() for i in redis.lrange(f"rq:queue:{RENDER_QUEUE}", 0, -1)]
    assert not tasks.heartbeat(lost, progress=50, uow=UnitOfWork(sessions.url))  # fenced
