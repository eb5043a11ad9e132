"""Benchmark what row-level security costs on `jobs list` (PostgreSQL).

Starts its own PostgreSQL (pgserver), migrates a database as the schema owner, and fills
it with 100 accounts, 500 projects and 10,000 render jobs. Then it runs the query behind
`rendercli jobs list` (the service function, through SQLAlchemy) two ways:

* as the **owner**: row security does not apply, the service's own owner filter does;
* as the **client** role carrying a token: row security applies on top.

Prints the median time per call for --limit 20 and --limit 1000, the server-side
execution time (EXPLAIN ANALYZE), how many times the token check ran in one statement
(pg_stat_get_xact_function_calls), and the client's plan, whose InitPlan shows the token
is checked once per statement, not once per row.

Run: .venv/bin/python bench/bench_tenancy.py [--calls 200]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from sqlalchemy.engine import make_url

from tests.servers import PostgresServer

ACCOUNTS = 100
PROJECTS_PER_ACCOUNT = 5
JOBS = 10_000
LIST_QUERY = (
    "SELECT j.*, p.name FROM render_jobs j JOIN projects p ON p.id = j.project_id "
    "WHERE p.owner_id = %(uid)s ORDER BY j.created_at DESC, j.id LIMIT {limit}"
)


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed(owner_url: str) -> list[tuple[str, str]]:
    """(user id, token) per account; rows written straight as the owner."""
    accounts = []
    with psycopg.connect(libpq(owner_url)) as conn, conn.cursor() as cur:
        for a in range(ACCOUNTS):
            uid, token = f"user{a:05d}", f"rcli_bench_token_{a:05d}"
            accounts.append((uid, token))
            cur.execute("INSERT INTO users (id, email, password_salt, password_verifier, "
                        "created_at) VALUES (%s, %s, %s, %s, now())",
                        (uid, f"u{a}@example.com", "$2b$04$" + "." * 22, "0" * 64))
            cur.execute("INSERT INTO auth_tokens (id, user_id, token_hash, kind, name, "
                        "created_at) VALUES (%s, %s, %s, 'api', 'bench', now())",
                        (f"tok{a:05d}", uid, hashlib.sha256(token.encode()).hexdigest()))
            for p in range(PROJECTS_PER_ACCOUNT):
                cur.execute("INSERT INTO projects VALUES (%s, %s, %s, now(), now())",
                            (f"p{a:05d}_{p}", uid, f"project {p}"))
        cur.execute(
            "INSERT INTO render_jobs (id, project_id, owner_id, status, progress, preset, "
            "format, fps, quality, use_cache, attempts, created_at, updated_at) "
            "SELECT 'job' || g, 'p' || lpad((g %% %(a)s)::text, 5, '0') || '_' || "
            "((g / %(a)s) %% %(p)s), 'user' || lpad((g %% %(a)s)::text, 5, '0'), "
            "CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'completed' END, "
            "100, '720p', 'mp4', 30, 'standard', true, 1, now() - g * interval '1 minute', now() "
            "FROM generate_series(1, %(n)s) AS g",
            {"a": ACCOUNTS, "p": PROJECTS_PER_ACCOUNT, "n": JOBS},
        )
        cur.execute("ANALYZE")
    return accounts


def time_service(url: str, user_id: str, token: str | None, limit: int, calls: int
                 ) -> tuple[float, int]:
    """Median seconds of `jobs.list_jobs` (the service behind `rendercli jobs list`)."""
    from rendercli.db import tenancy
    from rendercli.services import jobs
    from rendercli.services.unit_of_work import UnitOfWork

    os.environ["RENDERCLI_DATABASE_URL"] = url
    tenancy.use_token(token)
    rows = len(jobs.list_jobs(UnitOfWork(), user_id, limit=limit))  # warm-up
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        jobs.list_jobs(UnitOfWork(), user_id, limit=limit)
        times.append(time.perf_counter() - start)
    return statistics.median(times), rows


def server_side(url: str, uid: str, token: str | None, limit: int, runs: int = 30
                ) -> tuple[float, int, str]:
    """Median EXPLAIN ANALYZE execution time (ms), token checks per statement, and plan."""
    times, calls, plan = [], 0, ""
    with psycopg.connect(libpq(url)) as conn:
        fn = conn.execute("SELECT 'rendercli_current_user_id()'::regprocedure::oid").fetchone()
        for i in range(runs):
            with conn.transaction():
                if token is not None:
                    conn.execute("SELECT set_config('rendercli.token', %s, true)", (token,))
                lines = [r[0] for r in conn.execute(
                    "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) " + LIST_QUERY.format(limit=limit),
                    {"uid": uid})]
                found = re.search(r"Execution Time: ([\d.]+) ms", lines[-1])
                assert found, lines
                times.append(float(found.group(1)))
                if i == 0:
                    plan = "\n".join(lines)
                    calls = conn.execute("SELECT pg_stat_get_xact_function_calls(%s)",
                                         (fn[0],)).fetchone()[0] or 0  # type: ignore[index]
    return statistics.median(times), calls, plan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-bench-tenancy-"))
    pg = PostgresServer.start(work / "pg")
    try:
        pg.create_template()
        owner = pg.create_database()
        client = pg.client_url(owner)
        database = make_url(owner).database
        with pg._admin.connect() as conn:  # superuser: count function calls per statement
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" SET track_functions = \'all\'')
        accounts = seed(owner)
        uid, token = accounts[42]
        print(f"{ACCOUNTS} accounts, {ACCOUNTS * PROJECTS_PER_ACCOUNT} projects, {JOBS} jobs; "
              f"one account has {JOBS // ACCOUNTS} jobs")
        for limit in (20, 1000):
            o, rows = time_service(owner, uid, None, limit, args.calls)
            c, crows = time_service(client, uid, token, limit, args.calls)
            assert rows == crows, (rows, crows)
            print(f"jobs list --limit {limit} ({rows} rows), service call median: "
                  f"owner {o * 1000:.2f} ms, client with row security {c * 1000:.2f} ms "
                  f"({c / o:.2f}x)")
            os_, _, _ = server_side(owner, uid, None, limit)
            cs, calls, plan = server_side(client, uid, token, limit)
            print(f"  server execution median: owner {os_:.3f} ms, client {cs:.3f} ms; "
                  f"token checks in one statement: {calls}")
        print("\nclient plan (--limit 1000):\n" + plan)
        assert "InitPlan" in plan
    finally:
        from rendercli.db.engines import dispose_all

        dispose_all()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
