"""Who may do what on PostgreSQL: the client and worker roles, their grants and policies.

Three roles (SQLite, one user's own file, has none of this):

- the **owner** owns the schema and runs `rendercli db upgrade`. Row security does not
  apply to it (tables are not FORCEd): the SECURITY DEFINER functions run as the owner
  and must see every account to check a login.
- **rendercli_client** (a NOLOGIN group role; the logins of farm users and CI runners are
  its members): row security on every table it can reach. It sees the rows of the account
  whose token the transaction carries (`rendercli.token`, checked by the definer function
  rendercli_current_user_id), and nothing else. It cannot read password verifiers or
  token hashes, and writes users and tokens only through the definer functions.
- **rendercli_worker** (group role of render machines): every job and task, the items of
  projects with a job in progress (`worker_grants`), nothing of users or tokens. Only it
  may ask which storage keys any account uses (rendercli_storage_keys_referenced).

A client reads the render tasks of its own jobs (`jobs status`, `jobs logs`) and updates
their state columns only as its commands need to: cancelling a job cancels its tasks, the
upkeep a command runs hands back tasks of its jobs whose worker died and notes when it
dispatched them. It never creates a task: only a worker splits a job.

Roles are cluster objects that need CREATEROLE, so `rendercli db roles` prints (or, with
--apply, runs) the statements an admin needs; `apply` below, run by `rendercli db upgrade`
as the owner, grants to whichever of the roles exist and says which do not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

CLIENT_ROLE = "rendercli_client"
WORKER_ROLE = "rendercli_worker"
POLICY_PREFIX = "rendercli_"

# The identity check as policies use it: a scalar subquery, so the planner runs it once
# per statement (an InitPlan) instead of once per row.
ME = "(SELECT {s}.rendercli_current_user_id())"
# Rows that belong to a project: one array of the caller's project ids, also computed once;
# `project_id = ANY (array)` then uses the project_id indexes (an IN (subquery) here would
# scan every row of the table and filter it through a hashed subplan).
IN_MY_PROJECTS = "project_id = ANY (CAST((SELECT {s}.rendercli_my_project_ids()) AS varchar[]))"
# Render jobs name their owner, and the (project_id, owner_id) foreign key keeps it the
# project's owner, so `owner_id = me` also means "in one of my projects" (for a new job
# too): one column compared, and `jobs list` reads the (owner_id, created_at, id) index.
MY_JOB = "owner_id = " + ME
# Title cards and text overlays belong to an asset: the same array approach with the
# caller's asset ids (`asset_id = ANY (array)` uses the asset_id indexes of both tables).
MY_ASSETS = "CAST((SELECT {s}.rendercli_my_asset_ids()) AS varchar[])"
ON_MY_ASSETS = "asset_id = ANY (" + MY_ASSETS + ")"
# A row may name a font (an asset) too; the foreign key check bypasses row security, so
# without this a row of the caller's could point at another account's font, which a
# worker would then read and draw with.
ON_MY_ASSETS_WITH_MY_FONT = (
    ON_MY_ASSETS + " AND (font_id IS NULL OR font_id = ANY (" + MY_ASSETS + "))"
)
# The worker reads what belongs to an asset of a project with a job in progress.
OF_A_RENDER_IN_PROGRESS = (
    "EXISTS (SELECT 1 FROM {s}.assets AS a JOIN {s}.render_jobs AS j "
    "ON j.project_id = a.project_id WHERE a.id = {table}.asset_id AND j.status = 'processing')"
)

CLIENT_FUNCTIONS = (
    "rendercli_current_user_id()",
    "rendercli_my_project_ids()",
    "rendercli_my_asset_ids()",
    "rendercli_bcrypt_cost()",
    "rendercli_login_salt(text)",
    "rendercli_register(text, text, text)",
    "rendercli_login(text, text, text, integer)",
    "rendercli_authenticate(text)",
    "rendercli_logout(text, boolean)",
    "rendercli_create_token(text, integer)",
    "rendercli_revoke_token(text)",
    "rendercli_change_password(text, text, text)",
    "rendercli_storage_keys_in_use(text[])",
)

# The orphan sweep's view of every account's storage keys: workers only (clients never
# delete an object another account might use; see rendercli.services.upkeep.sweeps).
WORKER_FUNCTIONS = (
    "rendercli_storage_keys_referenced(text[])",
)

USER_COLUMNS = "id, email, created_at"
TOKEN_COLUMNS = "id, user_id, kind, name, created_at, expires_at, last_used_at, revoked_at"
TASK_STATE_COLUMNS = (
    "state, progress, attempts, worker_name, command, error, heartbeat_at, dispatched_at, "
    "started_at, finished_at"
)
# What a client's commands change: cancel (state, finished_at), recovery of a dead
# worker's task (state, worker_name, heartbeat_at, progress, dispatched_at, error) and
# dispatch (dispatched_at). Never attempts, command or started_at: those are the worker's.
CLIENT_TASK_COLUMNS = (
    "state, progress, worker_name, error, heartbeat_at, dispatched_at, finished_at"
)
# Tasks of the caller's jobs: the job's project among the caller's projects.
TASK_OF_MY_JOB = (
    "EXISTS (SELECT 1 FROM {s}.render_jobs AS j WHERE j.id = render_tasks.job_id AND j."
    + MY_JOB + ")"
)
# A worker creates tasks only for a job in progress (the one it claimed).
TASK_OF_JOB_IN_PROGRESS = (
    "EXISTS (SELECT 1 FROM {s}.render_jobs AS j WHERE j.id = render_tasks.job_id "
    "AND j.status = 'processing')"
)
JOB_STATE_COLUMNS = (
    "status, progress, eta_seconds, output_url, poster_url, output_size, output_duration, "
    "output_sha256, cache_hit, error, log, attempts, worker_name, heartbeat_at, "
    "dispatched_at, cancel_requested_at, started_at, finished_at, updated_at, loudness_lufs"
)

# (table, command, USING, WITH CHECK) for each role.
CLIENT_POLICIES = [
    ("users", "SELECT", "id = " + ME, None),
    ("auth_tokens", "SELECT", "user_id = " + ME, None),
    ("projects", "ALL", "owner_id = " + ME, "owner_id = " + ME),
    ("assets", "ALL", IN_MY_PROJECTS, IN_MY_PROJECTS),
    ("asset_titles", "ALL", ON_MY_ASSETS, ON_MY_ASSETS_WITH_MY_FONT),
    ("asset_texts", "ALL", ON_MY_ASSETS, ON_MY_ASSETS_WITH_MY_FONT),
    ("render_jobs", "SELECT", MY_JOB, None),
    ("render_jobs", "INSERT", None, MY_JOB),
    ("render_jobs", "UPDATE", MY_JOB, MY_JOB),
    ("render_tasks", "SELECT", TASK_OF_MY_JOB, None),
    ("render_tasks", "UPDATE", TASK_OF_MY_JOB, TASK_OF_MY_JOB),
    ("analytics_events", "SELECT", "user_id = " + ME, None),
    ("analytics_events", "INSERT", None, "user_id = " + ME),
]
WORKER_POLICIES = [
    ("render_jobs", "SELECT", "true", None),
    ("render_jobs", "UPDATE", "true", "true"),
    ("render_tasks", "SELECT", "true", None),
    ("render_tasks", "INSERT", None, TASK_OF_JOB_IN_PROGRESS),
    ("render_tasks", "UPDATE", "true", "true"),
    ("projects", "SELECT",
     "EXISTS (SELECT 1 FROM {s}.render_jobs AS j WHERE j.project_id = projects.id)", None),
    ("assets", "SELECT",
     "EXISTS (SELECT 1 FROM {s}.render_jobs AS j WHERE j.project_id = assets.project_id "
     "AND j.status = 'processing')", None),
    ("asset_titles", "SELECT", OF_A_RENDER_IN_PROGRESS.replace("{table}", "asset_titles"),
     None),
    ("asset_texts", "SELECT", OF_A_RENDER_IN_PROGRESS.replace("{table}", "asset_texts"), None),
    ("analytics_events", "INSERT", None, "true"),
]


def client_grants(s: str, role: str) -> list[str]:
    return [
        f"GRANT USAGE ON SCHEMA {s} TO {role}",
        f"GRANT SELECT ON {s}.alembic_version TO {role}",
        f"GRANT SELECT ({USER_COLUMNS}) ON {s}.users TO {role}",
        f"GRANT SELECT ({TOKEN_COLUMNS}) ON {s}.auth_tokens TO {role}",
        f"GRANT SELECT, INSERT, DELETE ON {s}.projects TO {role}",
        f"GRANT UPDATE (name, updated_at, spec_origin, fit) ON {s}.projects TO {role}",
        # Whole rows (new asset columns included); the policies keep them the caller's.
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.assets TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.asset_titles TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.asset_texts TO {role}",
        # Whole rows, as the ORM writes them; the policy keeps them in the caller's projects.
        f"GRANT SELECT, INSERT ON {s}.render_jobs TO {role}",
        f"GRANT UPDATE ({JOB_STATE_COLUMNS}) ON {s}.render_jobs TO {role}",
        f"GRANT SELECT ON {s}.render_tasks TO {role}",
        f"GRANT UPDATE ({CLIENT_TASK_COLUMNS}) ON {s}.render_tasks TO {role}",
        f"GRANT SELECT, INSERT ON {s}.analytics_events TO {role}",
        *(f"GRANT EXECUTE ON FUNCTION {s}.{f} TO {role}" for f in CLIENT_FUNCTIONS),
    ]


def worker_grants(s: str, role: str) -> list[str]:
    return [
        f"GRANT USAGE ON SCHEMA {s} TO {role}",
        f"GRANT SELECT ON {s}.alembic_version TO {role}",
        f"GRANT SELECT ON {s}.render_jobs TO {role}",
        f"GRANT UPDATE ({JOB_STATE_COLUMNS}) ON {s}.render_jobs TO {role}",
        f"GRANT SELECT, INSERT ON {s}.render_tasks TO {role}",
        f"GRANT UPDATE ({TASK_STATE_COLUMNS}) ON {s}.render_tasks TO {role}",
        f"GRANT SELECT (id, owner_id, name, fit) ON {s}.projects TO {role}",
        f"GRANT SELECT ON {s}.assets TO {role}",
        f"GRANT SELECT ON {s}.asset_titles TO {role}",
        f"GRANT SELECT ON {s}.asset_texts TO {role}",
        f"GRANT INSERT ON {s}.analytics_events TO {role}",
        *(f"GRANT EXECUTE ON FUNCTION {s}.{f} TO {role}" for f in WORKER_FUNCTIONS),
    ]


def _policy_sql(s: str, role: str, index: int, table: str, command: str,
                using: str | None, check: str | None) -> str:
    name = f"{POLICY_PREFIX}{role.removeprefix('rendercli_')}_{command.lower()}_{index}"
    sql = f'CREATE POLICY "{name}" ON {s}.{table} FOR {command} TO {role}'
    if using is not None:
        sql += f" USING ({using.format(s=s)})"
    if check is not None:
        sql += f" WITH CHECK ({check.format(s=s)})"
    return sql


def role_exists(conn: Connection, role: str) -> bool:
    return bool(conn.exec_driver_sql(
        "SELECT 1 FROM pg_roles WHERE rolname = %(r)s", {"r": role}).first())


def apply(conn: Connection) -> list[str]:
    """(Re)create the policies and grants for the client and worker roles that exist.

    Idempotent; run as the schema owner after the migrations. Returns warnings for
    roles that do not exist yet (their users then see nothing at all).
    """
    if conn.dialect.name != "postgresql":
        return []
    s = conn.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    tables = {p[0] for p in CLIENT_POLICIES + WORKER_POLICIES}
    for table in sorted(tables):
        for (name,) in conn.exec_driver_sql(
            "SELECT policyname FROM pg_policies WHERE schemaname = current_schema() "
            "AND tablename = %(t)s AND policyname LIKE %(p)s",
            {"t": table, "p": POLICY_PREFIX + "%"},
        ).all():
            conn.exec_driver_sql(f'DROP POLICY "{name}" ON {s}.{table}')
    warnings = []
    for role, grants, policies in (
        (CLIENT_ROLE, client_grants, CLIENT_POLICIES),
        (WORKER_ROLE, worker_grants, WORKER_POLICIES),
    ):
        if not role_exists(conn, role):
            warnings.append(
                f"warning: role {role} does not exist, so nothing was granted to it: "
                "an admin runs `rendercli db roles --apply`, then run `rendercli db upgrade` again"
            )
            continue
        for table in sorted(tables):
            conn.exec_driver_sql(f"REVOKE ALL ON {s}.{table} FROM {role}")
        for statement in grants(s, role):
            conn.exec_driver_sql(statement)
        for index, (table, command, using, check) in enumerate(policies):
            conn.exec_driver_sql(_policy_sql(s, role, index, table, command, using, check))
    return warnings


def set_bcrypt_cost(conn: Connection, cost: int) -> None:
    """The cost new passwords need on this database (and that fake salts carry)."""
    conn.exec_driver_sql("UPDATE login_secrets SET bcrypt_cost = %(c)s WHERE id = 1",
                         {"c": cost})


def role_statements(database: str | None) -> list[str]:
    """What an admin (CREATEROLE) runs once per cluster: the two group roles.

    Login roles are the admin's choice, for example
    `CREATE ROLE ci_runner LOGIN PASSWORD '...' IN ROLE rendercli_client`.
    """
    statements = []
    for role in (CLIENT_ROLE, WORKER_ROLE):
        statements.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
            f"THEN CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
            f"NOBYPASSRLS; END IF; END $$"
        )
    if database:
        quoted = '"' + database.replace('"', '""') + '"'
        statements.append(f"GRANT CONNECT ON DATABASE {quoted} TO {CLIENT_ROLE}, {WORKER_ROLE}")
    return statements
