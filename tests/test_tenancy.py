"""PostgreSQL is the boundary: as the client role with bob's valid token, raw SQL (psycopg,
no rendercli code) reaches bob's rows and nothing of alice's.

The attacker here holds what every farm user holds: the client login of the database URL,
plus their own valid token. Everything runs on the suite's real PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import errors
from sqlalchemy.engine import make_url

from rendercli.errors import AuthRequired
from tests.conftest import TEST_PASSWORD, Cli, make_account
from tests.servers import PostgresServer

SALT_RE = re.compile(r"^\$2b\$(\d\d)\$[./A-Za-z0-9]{21}[.Oeu]$")
READABLE = {  # what the client may select, table by table
    "users": "id, email, created_at",
    "auth_tokens": "id, user_id, kind, name, created_at, expires_at, last_used_at, revoked_at",
    "projects": "*",
    "assets": "*",
    "asset_titles": "*",
    "asset_texts": "*",
    "render_jobs": "*",
    "render_tasks": "*",
    "analytics_events": "*",
}
TASK_SQL = ("INSERT INTO render_tasks (id, job_id, seq, kind, label, weight, state, progress, "
            "attempts, created_at) VALUES (%s, %s, %s, 'segment', 'segment 1', 1, 'queued', 0, "
            "0, now())")
ASSET_COLUMNS = ("id, project_id, position, kind, display_name, sha256, storage_key, "
                 "size_bytes, container, rotation, has_audio, transition, transition_seconds, "
                 "fade_in, fade_out, volume, mute, duck, created_at, updated_at")
ASSET_VALUES = ("%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, false, 'none', 0, 0, 0, 1, false, "
                "false, now(), now()")
HOSTILE = [
    "' OR '1'='1",
    "alice@example.com'; DROP TABLE users; --",
    "%",
    "\\",
    "x" * 1_000_000,
    "",
    "rcli_" + "A" * 43,
    "$2b$04$" + "." * 22,
]


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Tenants:
    owner_url: str
    client_url: str
    worker_url: str
    alice_token: str
    bob_token: str
    ids: dict[str, str]  # alice_user, bob_user, alice_project, alice_job, ...

    def run(self, sql: str, params: Any = None, *, token: str | None = "bob",
            url: str | None = None) -> list[tuple[Any, ...]]:
        """One transaction as the client role, carrying a token (bob's by default)."""
        value = {"bob": self.bob_token, "alice": self.alice_token}.get(token or "", token)
        with psycopg.connect(libpq(url or self.client_url)) as conn:
            if value is not None:
                conn.execute("SELECT set_config('rendercli.token', %s, true)", (value,))
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else [(cursor.rowcount,)]

    def owner(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.run(sql, params, token=None, url=self.owner_url)


@pytest.fixture
def tenants(postgres: PostgresServer, cli: Cli, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[Tenants]:
    if not postgres.has_roles:
        pytest.skip("needs the suite's own PostgreSQL (roles are created there)")
    owner_url = postgres.create_database()
    client_url = postgres.client_url(owner_url)
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", client_url)
    alice = make_account(cli, "alice@example.com")
    bob = make_account(cli, "bob@example.com")
    t = Tenants(owner_url, client_url, postgres.worker_url(owner_url), alice.token, bob.token,
                {})
    for who in ("alice", "bob"):
        user_id = t.owner("SELECT id FROM users WHERE email = %s", (f"{who}@example.com",))[0][0]
        t.ids[f"{who}_user"] = user_id
        # Rows made as the owner: row security is what is under test, not the services.
        t.ids[f"{who}_project"] = project = f"{who}project000000000000"[:24]
        t.owner("INSERT INTO projects VALUES (%s, %s, %s, now(), now())",
                (project, user_id, f"{who} secret film"))
        t.ids[f"{who}_asset"] = asset = f"{who}asset00000000000000000"[:24]
        t.ids[f"{who}_title"] = title = f"{who}title00000000000000000"[:24]
        t.ids[f"{who}_font"] = font = f"{who}font000000000000000000"[:24]
        t.ids[f"{who}_text"] = f"{who}text0000000000000000000"[:24]
        for row in (
            (asset, project, 1, "video", f"{who}-private.mp4", who[0] * 64, who[0] * 64, 10,
             "mp4"),
            # A title card has no stored file: NULL storage key.
            (title, project, 2, "title", f"{who} secret title", None, None, None, None),
            (font, project, None, "font", f"{who}-private.ttf", who[0] * 63 + "f",
             who[0] * 63 + "f", 10, "ttf"),
        ):
            t.owner(f"INSERT INTO assets ({ASSET_COLUMNS}) VALUES ({ASSET_VALUES})", row)
        t.owner("INSERT INTO asset_titles (asset_id, text, background, color, size, font_id) "
                "VALUES (%s, %s, 'black', 'white', 'large', %s)",
                (title, f"{who} secret title", font))
        t.owner("INSERT INTO asset_texts (id, asset_id, position, text, start, placement, "
                "size, color, box, font_id, created_at) VALUES (%s, %s, 1, %s, 0, "
                "'lower-third', 'medium', 'white', true, %s, now())",
                (t.ids[f"{who}_text"], asset, f"{who} secret caption", font))
        t.ids[f"{who}_job"] = job = f"{who}job0000000000000000000"[:24]
        t.owner("INSERT INTO render_jobs (id, project_id, owner_id, status, progress, preset, "
                "format, fps, quality, use_cache, output_url, attempts, created_at, updated_at) "
                "VALUES (%s, %s, %s, 'queued', 0, '720p', 'mp4', 30, 'standard', true, %s, 0, "
                "now(), now())", (job, project, user_id, f"file:///renders/{who}.mp4"))
        t.ids[f"{who}_task"] = task = f"{who}task000000000000000000"[:24]
        t.owner(TASK_SQL, (task, job, 0))
        t.ids[f"{who}_token"] = t.owner(
            "SELECT id FROM auth_tokens WHERE user_id = %s AND kind = 'api'", (user_id,))[0][0]
    yield t
    postgres.drop_url(owner_url)


def alice_snapshot(t: Tenants) -> list[Any]:
    """Everything of alice's, as the owner sees it (to prove nothing changed)."""
    uid = t.ids["alice_user"]
    return [
        t.owner("SELECT * FROM users WHERE id = %s", (uid,)),
        t.owner("SELECT * FROM auth_tokens WHERE user_id = %s ORDER BY id", (uid,)),
        t.owner("SELECT * FROM projects WHERE owner_id = %s", (uid,)),
        t.owner("SELECT * FROM assets WHERE project_id = %s ORDER BY id",
                (t.ids["alice_project"],)),
        t.owner("SELECT * FROM asset_titles WHERE asset_id IN "
                "(SELECT id FROM assets WHERE project_id = %s) ORDER BY asset_id",
                (t.ids["alice_project"],)),
        t.owner("SELECT * FROM asset_texts WHERE asset_id IN "
                "(SELECT id FROM assets WHERE project_id = %s) ORDER BY id",
                (t.ids["alice_project"],)),
        t.owner("SELECT * FROM render_jobs WHERE project_id = %s", (t.ids["alice_project"],)),
        t.owner("SELECT * FROM render_tasks WHERE job_id = %s", (t.ids["alice_job"],)),
    ]


def owner_ids(t: Tenants, table: str, rows: list[tuple[Any, ...]]) -> set[str]:
    """The user each visible row belongs to."""
    ids = [r[0] for r in rows]
    query = {
        "users": "SELECT id FROM users WHERE id = ANY(%s)",
        "auth_tokens": "SELECT user_id FROM auth_tokens WHERE id = ANY(%s)",
        "projects": "SELECT owner_id FROM projects WHERE id = ANY(%s)",
        "assets": "SELECT p.owner_id FROM assets a JOIN projects p ON p.id = a.project_id "
                  "WHERE a.id = ANY(%s)",
        "asset_titles": "SELECT p.owner_id FROM asset_titles t JOIN assets a "
                        "ON a.id = t.asset_id JOIN projects p ON p.id = a.project_id "
                        "WHERE t.asset_id = ANY(%s)",
        "asset_texts": "SELECT p.owner_id FROM asset_texts t JOIN assets a "
                       "ON a.id = t.asset_id JOIN projects p ON p.id = a.project_id "
                       "WHERE t.id = ANY(%s)",
        "render_jobs": "SELECT p.owner_id FROM render_jobs j JOIN projects p "
                       "ON p.id = j.project_id WHERE j.id = ANY(%s)",
        "render_tasks": "SELECT p.owner_id FROM render_tasks t JOIN render_jobs j "
                        "ON j.id = t.job_id JOIN projects p ON p.id = j.project_id "
                        "WHERE t.id = ANY(%s)",
        "analytics_events": "SELECT user_id FROM analytics_events WHERE id = ANY(%s)",
    }[table]
    return {r[0] for r in t.owner(query, (ids,))}


def test_every_table_shows_bob_only_his_rows(tenants: Tenants) -> None:
    t = tenants
    for table, columns in READABLE.items():
        rows = t.run(f"SELECT {columns} FROM {table}")
        assert rows, table  # bob has rows in every table
        assert owner_ids(t, table, rows) == {t.ids["bob_user"]}, table
        everyone = t.owner(f"SELECT count(*) FROM {table}")[0][0]
        assert everyone > len(rows), table  # alice's rows exist; bob just cannot see them
    assert t.run("SELECT rendercli_current_user_id()") == [(t.ids["bob_user"],)]
    [(mine,)] = t.run("SELECT rendercli_my_asset_ids()")
    assert sorted(mine) == sorted(t.ids[f"bob_{k}"] for k in ("asset", "title", "font"))
    # By id, by name, by join: alice's rows stay invisible.
    assert t.run("SELECT * FROM projects WHERE id = %s OR name LIKE 'alice%%'",
                 (t.ids["alice_project"],)) == []
    assert t.run("SELECT j.id FROM render_jobs j JOIN assets a USING (project_id)"
                 " WHERE j.id = %s", (t.ids["alice_job"],)) == []


@pytest.mark.parametrize("query", [
    "SELECT password_verifier FROM users",
    "SELECT password_salt FROM users",
    "SELECT * FROM users",
    "SELECT token_hash FROM auth_tokens",
    "SELECT * FROM auth_tokens",
    "SELECT * FROM login_secrets",
    "SELECT count(*) FROM users WHERE password_verifier LIKE 'a%%'",
    "SELECT count(*) FROM auth_tokens WHERE token_hash IS NOT NULL",
])
def test_secret_columns_are_refused(tenants: Tenants, query: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        tenants.run(query)


FORGED_JOB = ("INSERT INTO render_jobs (id, project_id, owner_id, status, progress, preset, "
              "format, fps, quality, use_cache, attempts, created_at, updated_at) VALUES "
              "('forgedjob', %s, %s, 'queued', 0, '720p', 'mp4', 30, 'standard', true, 0, "
              "now(), now())")


def test_bob_cannot_write_what_is_not_his(tenants: Tenants) -> None:
    t = tenants
    before = alice_snapshot(t)
    refused = [
        ("INSERT INTO auth_tokens (id, user_id, token_hash, kind, name, created_at) VALUES "
         "('forged', %s, repeat('0', 64), 'api', 'x', now())", (t.ids["alice_user"],)),
        ("INSERT INTO auth_tokens (id, user_id, token_hash, kind, name, created_at) VALUES "
         "('forged', %s, repeat('0', 64), 'api', 'x', now())", (t.ids["bob_user"],)),
        ("INSERT INTO users (id, email, password_salt, password_verifier, created_at) VALUES "
         "('forged', 'mallory@example.com', 'x', 'x', now())", None),
        ("UPDATE users SET email = 'bob2@example.com' WHERE id = %s", (t.ids["bob_user"],)),
        ("UPDATE auth_tokens SET revoked_at = NULL", None),
        ("DELETE FROM auth_tokens", None),
        (FORGED_JOB, (t.ids["alice_project"], t.ids["alice_user"])),
        ("UPDATE render_jobs SET owner_id = %s", (t.ids["alice_user"],)),
        ("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES "
         "('forgedproject', %s, 'x', now(), now())", (t.ids["alice_user"],)),
        ("INSERT INTO assets (id, project_id, position, kind, display_name, sha256, "
         "storage_key, size_bytes, container, rotation, has_audio, created_at, updated_at) "
         "VALUES ('forgedasset', %s, 9, 'video', 'x', 'x', 'x', 1, 'mp4', 0, false, now(), "
         "now())", (t.ids["alice_project"],)),
        ("UPDATE projects SET owner_id = %s", (t.ids["alice_user"],)),
        ("UPDATE render_jobs SET project_id = %s", (t.ids["alice_project"],)),
        ("UPDATE assets SET project_id = %s", (t.ids["alice_project"],)),
        ("INSERT INTO analytics_events (id, name, user_id, properties, created_at) VALUES "
         "('forgedevent', 'x', %s, '{}', now())", (t.ids["alice_user"],)),
        ("DELETE FROM render_jobs", None),
        # Only a worker splits a job into tasks; a client changes only their state.
        (TASK_SQL, ("forgedtask", t.ids["alice_job"], 5)),
        (TASK_SQL, ("forgedtask", t.ids["bob_job"], 5)),
        ("UPDATE render_tasks SET job_id = %s", (t.ids["alice_job"],)),
        ("UPDATE render_tasks SET attempts = 9, command = 'x'", None),
        ("DELETE FROM render_tasks", None),
        ("SELECT rendercli_issue_token(%s, 'api', 'x', NULL)", (t.ids["alice_user"],)),
        ("SELECT rendercli_record_event('x', %s, '{}')", (t.ids["alice_user"],)),
        ("SELECT rendercli_hmac_sha256('\\x00', '\\x00')", None),
        ("TRUNCATE render_jobs", None),
        ("ALTER TABLE render_jobs DISABLE ROW LEVEL SECURITY", None),
        ("DROP POLICY rendercli_client_all_2 ON projects", None),
        ("CREATE TABLE public.mine (x int)", None),
        ("CREATE FUNCTION public.rendercli_hash_token(p text, q text) RETURNS text "
         "LANGUAGE sql AS 'SELECT p'", None),
        ("SET ROLE rc_test_owner", None),
    ]
    for sql, params in refused:
        with pytest.raises((errors.InsufficientPrivilege, errors.WrongObjectType)):
            t.run(sql, params)
    # A job in alice's project that names bob as its owner passes bob's policy, but the
    # (project_id, owner_id) foreign key refuses it.
    with pytest.raises(errors.ForeignKeyViolation):
        t.run(FORGED_JOB.replace("'queued'", "'completed'"),
              (t.ids["alice_project"], t.ids["bob_user"]))
    # Alice's rows are invisible to UPDATE and DELETE: nothing happens to them.
    for sql in (
        "UPDATE render_jobs SET status = 'cancelled' WHERE id = %(job)s",
        "UPDATE render_jobs SET log = 'pwned', output_url = 'file:///etc/passwd'",
        "DELETE FROM projects WHERE id = %(project)s",
        "DELETE FROM assets WHERE project_id = %(project)s",
        "UPDATE projects SET name = 'pwned' WHERE id = %(project)s",
        "UPDATE render_tasks SET state = 'cancelled', error = 'pwned' WHERE job_id = %(job)s",
        "UPDATE render_tasks SET worker_name = 'mallory'",
    ):
        t.run(sql, {"job": t.ids["alice_job"], "project": t.ids["alice_project"]})
    assert alice_snapshot(t) == before
    # What his own commands do to his own job's tasks (cancel) still works.
    assert t.run("UPDATE render_tasks SET state = 'cancelled', finished_at = now() "
                 "WHERE job_id = %s", (t.ids["bob_job"],)) == [(1,)]


def test_titles_and_texts_are_their_assets_owners(tenants: Tenants) -> None:
    """Title cards and text overlays follow asset -> project -> owner: bob cannot add one
    to alice's items, point his own at her font, or move his onto her items; his updates
    and deletes do not reach hers."""
    t = tenants
    before = alice_snapshot(t)
    ids = {k: t.ids[k] for k in ("alice_asset", "alice_title", "alice_font", "alice_text",
                                 "bob_asset", "bob_title", "bob_font", "bob_text")}
    text_row = ("INSERT INTO asset_texts (id, asset_id, position, text, start, placement, size, "
                "color, box, font_id, created_at) VALUES (%(id)s, %(on)s, 9, 'x', 0, "
                "'center', 'small', 'white', false, %(font)s, now())")
    title_row = ("INSERT INTO asset_titles (asset_id, text, background, color, size, font_id) "
                 "VALUES (%(on)s, 'x', 'black', 'white', 'large', %(font)s)")
    refused = [
        (text_row, {"id": "forgedtext", "on": ids["alice_asset"], "font": None}),
        (text_row, {"id": "forgedtext", "on": ids["alice_title"], "font": ids["alice_font"]}),
        (title_row, {"on": ids["alice_asset"], "font": None}),
        # his own item, her font: a worker would read her font to draw his text
        (text_row, {"id": "forgedtext", "on": ids["bob_asset"], "font": ids["alice_font"]}),
        (title_row, {"on": ids["bob_asset"], "font": ids["alice_font"]}),
        ("UPDATE asset_texts SET asset_id = %(on)s", {"on": ids["alice_asset"]}),
        ("UPDATE asset_titles SET asset_id = %(on)s", {"on": ids["alice_asset"]}),
        ("UPDATE asset_texts SET font_id = %(font)s", {"font": ids["alice_font"]}),
        ("UPDATE asset_titles SET font_id = %(font)s", {"font": ids["alice_font"]}),
    ]
    for sql, params in refused:
        with pytest.raises(errors.InsufficientPrivilege):
            t.run(sql, params)
    # Alice's rows are invisible to UPDATE and DELETE: nothing happens to them.
    for sql in (
        "UPDATE asset_texts SET text = 'pwned' WHERE id = %(alice_text)s",
        "UPDATE asset_texts SET text = 'pwned' WHERE asset_id = %(alice_asset)s",
        "UPDATE asset_titles SET text = 'pwned', font_id = NULL "
        "WHERE asset_id = %(alice_title)s",
        "DELETE FROM asset_texts WHERE id = %(alice_text)s",
        "DELETE FROM asset_titles WHERE asset_id = %(alice_title)s",
    ):
        assert t.run(sql, ids) == [(0,)], sql
    assert alice_snapshot(t) == before
    # Bob's own rows, with his own font, are his to write.
    assert t.run(text_row, {"id": "bobtext2", "on": ids["bob_title"],
                            "font": ids["bob_font"]}) == [(1,)]
    assert t.run("UPDATE asset_titles SET text = 'mine', font_id = %(bob_font)s", ids) == [(1,)]
    assert t.run("DELETE FROM asset_texts WHERE id = %(bob_text)s", ids) == [(1,)]
    assert alice_snapshot(t) == before


def test_title_and_text_policies_use_the_asset_id_indexes(tenants: Tenants) -> None:
    """The policies compare asset_id with one array of the caller's asset ids, computed
    once per statement: an index condition, not a per-row subquery over the table."""
    t = tenants
    for table in ("asset_titles", "asset_texts"):
        with psycopg.connect(libpq(t.client_url)) as conn:
            conn.execute("SELECT set_config('rendercli.token', %s, true)", (t.bob_token,))
            conn.execute("SET LOCAL enable_seqscan = off")  # the tables are tiny here
            plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT * FROM {table}"))
        assert "Index Cond: ((asset_id)::text = ANY" in plan, plan
        assert "SubPlan" not in plan and "Seq Scan" not in plan, plan


@pytest.mark.parametrize("token", [
    None, "", "rcli_made-up-token", "' OR true --", "x" * 100_000, "alice-token-hash",
    "revoked", "expired",
])
def test_a_token_that_is_not_live_sees_nothing(tenants: Tenants, token: str | None) -> None:
    t = tenants
    if token == "alice-token-hash":  # what a dump would show: the hash, not the token
        token = t.owner("SELECT token_hash FROM auth_tokens WHERE id = %s",
                        (t.ids["alice_token"],))[0][0]
    elif token in ("revoked", "expired"):
        column = "revoked_at" if token == "revoked" else "expires_at"
        t.owner(f"UPDATE auth_tokens SET {column} = now() - interval '1 second' "
                "WHERE id = %s", (t.ids["bob_token"],))
        token = "bob"
    for table, columns in READABLE.items():
        assert t.run(f"SELECT {columns} FROM {table}", token=token) == [], table
    assert t.run("SELECT rendercli_current_user_id()", token=token) == [(None,)]
    assert t.run("SELECT rendercli_my_asset_ids()", token=token) == [([],)]
    with pytest.raises(errors.InsufficientPrivilege):
        t.run("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES "
              "('p', %s, 'x', now(), now())", (t.ids["bob_user"],), token=token)


def test_definer_functions_reveal_nothing_of_alice(tenants: Tenants) -> None:
    t = tenants
    before = alice_snapshot(t)
    alice_token_hash = t.owner("SELECT token_hash FROM auth_tokens WHERE id = %s",
                               (t.ids["alice_token"],))[0][0]
    alice_salt = t.run("SELECT rendercli_login_salt('alice@example.com')")[0][0]
    hostile = [*HOSTILE, None, t.ids["alice_user"], t.ids["alice_token"], alice_token_hash,
               alice_salt, "alice@example.com"]
    for value in hostile:
        # Login: no proof but the right one issues anything.
        assert t.run("SELECT * FROM rendercli_login('alice@example.com', %s, %s, 1)",
                     (value, value)) == []
        assert t.run("SELECT * FROM rendercli_login(%s, %s, 'x', 30)", (value, value)) == []
        # A token's owner is told only to whoever holds the token itself.
        assert t.run("SELECT * FROM rendercli_authenticate(%s)", (value,)) == []
        assert t.run("SELECT rendercli_logout(%s, true)", (value,)) == [(0,)]
        assert t.run("SELECT rendercli_logout(%s, false)", (value,)) == [(0,)]
        assert t.run("SELECT * FROM rendercli_revoke_token(%s)", (value,)) == []
        assert t.run("SELECT rendercli_change_password(%s, '$2b$04$' || repeat('.', 22), "
                     "repeat('0', 64))", (value,)) == [(False,)]
        assert t.run("SELECT * FROM rendercli_storage_keys_in_use(ARRAY[%s]::text[])",
                     (value,)) == []
        salt = t.run("SELECT rendercli_login_salt(%s)", (value,))[0][0]
        assert SALT_RE.match(salt), salt
        with pytest.raises((errors.InvalidParameterValue, errors.UniqueViolation)):
            t.run("SELECT * FROM rendercli_register(%s, %s, %s)", (value, value, value))
        with pytest.raises((errors.InvalidParameterValue, errors.NotNullViolation)):
            t.run("SELECT * FROM rendercli_create_token(%s, -1)", (value,))
    # Bob's own calls act on bob only, whatever ids he passes.
    assert t.run("SELECT * FROM rendercli_revoke_token(%s)", (t.ids["alice_token"],)) == []
    made = t.run("SELECT token FROM rendercli_create_token(%s, 30)", (HOSTILE[1],))[0][0]
    assert t.owner("SELECT user_id, name FROM auth_tokens WHERE token_hash = "
                   "encode(sha256(convert_to(%s, 'UTF8')), 'hex')", (made,)) == [
        (t.ids["bob_user"], HOSTILE[1])]
    assert t.run("SELECT rendercli_logout(%s, true)", (t.bob_token,)) == [(0,)]  # api: none
    # The storage-key check answers only for keys the caller already knows (content
    # hashes), which the shared storage directory shows anyway.
    assert t.run("SELECT * FROM rendercli_storage_keys_in_use(ARRAY[%s])",
                 ("a" * 64,)) == [("a" * 64,)]
    # Without a live token it cannot answer for every account, and says so (an empty
    # answer would read as "unused" and get every object deleted).
    for token in ("rcli_made-up", None, ""):
        with pytest.raises(errors.InvalidAuthorizationSpecification):
            t.run("SELECT * FROM rendercli_storage_keys_in_use(ARRAY[%s])", ("a" * 64,),
                  token=token)
    # Titles have no stored file: a NULL key is never "in use", nor does it hide real ones.
    assert t.run("SELECT * FROM rendercli_storage_keys_in_use(ARRAY[NULL, %s])",
                 ("a" * 64,)) == [("a" * 64,)]
    # Registering alice's email again says it is taken (register must), and changes nothing.
    with pytest.raises(errors.UniqueViolation):
        t.run("SELECT * FROM rendercli_register('ALICE@example.com', %s, repeat('0', 64))",
              ("$2b$04$" + "." * 22,))
    assert alice_snapshot(t) == before


def test_fake_salts_are_stable_and_look_real(tenants: Tenants) -> None:
    t = tenants
    real = t.run("SELECT rendercli_login_salt('alice@example.com')")[0][0]
    fake = t.run("SELECT rendercli_login_salt('nobody@example.com')", token=None)[0][0]
    assert fake == t.run("SELECT rendercli_login_salt(' NoBody@Example.com ')")[0][0]
    other = t.run("SELECT rendercli_login_salt('nobody2@example.com')")[0][0]
    real_match, fake_match = SALT_RE.match(real), SALT_RE.match(fake)
    assert real_match and fake_match
    assert real_match.group(1) == fake_match.group(1)  # the same cost
    assert len({real, fake, other}) == 3
    # The Python side (used on SQLite) derives the very same fake salt.
    from rendercli.services.passwords import fake_salt

    key, cost = t.owner("SELECT hmac_key, bcrypt_cost FROM login_secrets")[0]
    assert fake_salt(key, cost, "nobody@example.com") == fake


def test_worker_role_reads_jobs_and_only_the_assets_of_renders_in_progress(
    tenants: Tenants,
) -> None:
    t = tenants
    w = t.worker_url

    def as_worker(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return t.run(sql, params, token=None, url=w)

    assert len(as_worker("SELECT id FROM render_jobs")) == 2
    for table in ("assets", "asset_titles", "asset_texts"):
        assert as_worker(f"SELECT * FROM {table}") == [], table  # nothing is rendering yet
    assert as_worker("UPDATE render_jobs SET status = 'processing', worker_name = 'w1', "
                     "attempts = attempts + 1 WHERE id = %s", (t.ids["alice_job"],)) == [(1,)]
    # The job's project: its items, its fonts, and the titles and texts drawn with them.
    assert {r[0] for r in as_worker("SELECT id FROM assets")} == {
        t.ids["alice_asset"], t.ids["alice_title"], t.ids["alice_font"]}
    assert as_worker("SELECT asset_id, text, font_id FROM asset_titles") == [
        (t.ids["alice_title"], "alice secret title", t.ids["alice_font"])]
    assert as_worker("SELECT id, text, font_id FROM asset_texts") == [
        (t.ids["alice_text"], "alice secret caption", t.ids["alice_font"])]
    assert as_worker("SELECT name FROM projects WHERE id = %s", (t.ids["alice_project"],))
    # Render tasks: every one readable; new ones only for a job in progress (its split).
    assert len(as_worker("SELECT id FROM render_tasks")) == 2
    assert as_worker(TASK_SQL, ("alicetask2", t.ids["alice_job"], 1)) == [(1,)]
    with pytest.raises(errors.InsufficientPrivilege):  # bob's job is not rendering
        as_worker(TASK_SQL, ("bobtask2", t.ids["bob_job"], 1))
    assert as_worker("UPDATE render_tasks SET state = 'processing', worker_name = 'w1', "
                     "attempts = attempts + 1, command = 'x' WHERE id = %s",
                     (t.ids["alice_task"],)) == [(1,)]
    for sql in ("SELECT id FROM users", "SELECT id FROM auth_tokens",
                "SELECT * FROM login_secrets", "SELECT * FROM projects",
                "UPDATE render_jobs SET project_id = project_id",
                "INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES "
                "('x', 'y', 'z', now(), now())",
                "DELETE FROM render_jobs", "SELECT rendercli_current_user_id()",
                "DELETE FROM render_tasks", "UPDATE render_tasks SET job_id = job_id",
                "SELECT rendercli_my_asset_ids()",
                "UPDATE asset_texts SET text = 'x'", "DELETE FROM asset_titles",
                "INSERT INTO asset_texts (id, asset_id, position, text, start, placement, "
                "size, color, box, created_at) VALUES ('x', 'y', 1, 'z', 0, 'center', "
                "'small', 'white', false, now())",
                "SELECT * FROM analytics_events"):
        with pytest.raises(errors.InsufficientPrivilege):
            as_worker(sql)


def test_policies_check_the_token_once_per_statement(tenants: Tenants) -> None:
    plan = "\n".join(r[0] for r in tenants.run(
        "EXPLAIN (VERBOSE) SELECT j.* FROM render_jobs j JOIN projects p ON p.id = j.project_id "
        "ORDER BY j.created_at DESC LIMIT 20"))
    assert "InitPlan" in plan
    # The identity function appears only inside InitPlans, never in a per-row filter.
    for line in plan.splitlines():
        if "rendercli_current_user_id" in line:
            assert "InitPlan" in line or "Output:" in line or "Result" in line, plan


def test_login_over_sql_needs_the_password(tenants: Tenants) -> None:
    """The whole login protocol by hand: salt, bcrypt on the client, proof."""
    import bcrypt

    t = tenants
    salt = t.run("SELECT rendercli_login_salt('alice@example.com')", token=None)[0][0]
    proof = bcrypt.hashpw(TEST_PASSWORD.encode(), salt.encode()).decode()
    [row] = t.run("SELECT token, user_id FROM rendercli_login('alice@example.com', %s, 'x', 1)",
                  (proof,), token=None)
    assert row[1] == t.ids["alice_user"] and row[0].startswith("rcli_")
    assert [r[0] for r in t.run("SELECT id FROM projects", token=row[0])] == [
        t.ids["alice_project"]]
    # The stored verifier is not the proof: replaying it does not log in.
    verifier = t.owner("SELECT password_verifier FROM users WHERE id = %s",
                       (t.ids["alice_user"],))[0][0]
    assert t.run("SELECT * FROM rendercli_login('alice@example.com', %s, 'x', 1)",
                 (verifier,), token=None) == []


def test_demo_prepares_its_account_on_both_databases(database_url: str, tmp_path) -> None:
    """No client may start a session without a password on PostgreSQL: the demo logs in
    to a throwaway account of its own there, and reuses the one demo account on SQLite."""
    from rendercli.services import accounts, demo
    from rendercli.services.unit_of_work import UnitOfWork
    from tests.media_factory import make_audio, make_image, make_video

    # make_samples' shape: a clip, a still, a clip and music (plus the demo's title card)
    samples = [make_video(tmp_path / "a.mp4", duration=2.0), make_image(tmp_path / "b.png"),
               make_video(tmp_path / "c.mp4", duration=1.0), make_audio(tmp_path / "d.mp3")]
    first = demo.prepare(UnitOfWork(), samples)
    second = demo.prepare(UnitOfWork(), samples)
    assert first.asset_count == second.asset_count == 5
    assert accounts.authenticate(UnitOfWork(), second.token) == second.user
    same_account = first.user.id == second.user.id
    assert same_account == database_url.startswith("sqlite")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_existing_passwords_keep_working_after_the_migration(
    backend: str, postgres: PostgresServer, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0002 turns each stored bcrypt hash H into salt H[:29] and verifier
    SHA-256(H): nobody has to reset a password."""
    import bcrypt
    from sqlalchemy import text

    from rendercli.db.engines import get_engine
    from rendercli.db.schema import upgrade
    from rendercli.services import accounts
    from rendercli.services.unit_of_work import UnitOfWork

    if backend == "sqlite":
        url = client = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = postgres.create_database(from_template=False)
        client = postgres.client_url(url)
    engine = get_engine(url)
    upgrade(engine, "0001")
    old_hash = bcrypt.hashpw(TEST_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users VALUES ('olduser', 'old@example.com', :h, "
                          "CURRENT_TIMESTAMP)"), {"h": old_hash})
    upgrade(engine)
    with engine.begin() as conn:
        row = conn.execute(text("SELECT password_salt, password_verifier FROM users")).one()
    assert row.password_salt == old_hash[:29] and old_hash not in row  # the hash is gone
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", client)
    issued = accounts.login(UnitOfWork(), "old@example.com", TEST_PASSWORD, session_name="t")
    assert issued.user.id == "olduser"
    with pytest.raises(AuthRequired):
        accounts.login(UnitOfWork(), "old@example.com", TEST_PASSWORD + "!", session_name="t")
    if backend == "postgresql":
        postgres.drop_url(url)


def test_db_roles_prints_or_applies_the_group_roles(
    cli: Cli, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", postgres.url_for("postgres"))
    printed = cli.ok("db", "roles").stdout
    assert "CREATE ROLE rendercli_client NOLOGIN" in printed
    assert "CREATE ROLE rendercli_worker NOLOGIN" in printed
    assert "PASSWORD" not in printed.upper().replace("\\PASSWORD", "")
    for _ in range(2):  # idempotent
        assert "exist" in cli.ok("db", "roles", "--apply").stdout
    monkeypatch.delenv("RENDERCLI_DATABASE_URL")
    embedded = cli("db", "roles")
    assert embedded.exit_code == 2 and "only on PostgreSQL" in embedded.stderr


def test_db_upgrade_names_roles_that_do_not_exist_yet(
    cli: Cli, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rendercli.db import access

    if not postgres.has_roles:
        pytest.skip("needs the suite's own PostgreSQL")
    url = postgres.create_database(from_template=False)
    monkeypatch.setattr(access, "WORKER_ROLE", "rendercli_no_such_role")
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", url)
    result = cli.ok("db", "upgrade")
    assert result.stderr == (
        "warning: role rendercli_no_such_role does not exist, so nothing was granted to it: "
        "an admin runs `rendercli db roles --apply`, then run `rendercli db upgrade` again\n")
    # The client role exists and got its grants: it can check the schema version.
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", postgres.client_url(url))
    assert cli("whoami").stderr.startswith("error: not logged in")
    postgres.drop_url(url)


def test_change_password_on_both_databases(database_url: str) -> None:
    """The old password must be right; afterwards only the new one logs in, and the
    account's other login sessions are over while the one that changed it goes on."""
    from rendercli.services import accounts
    from rendercli.services.unit_of_work import UnitOfWork

    accounts.register(UnitOfWork(), "ana@example.com", TEST_PASSWORD)

    def login(password: str) -> str:
        return accounts.login(UnitOfWork(), "ana@example.com", password, session_name="m").token

    here, elsewhere = login(TEST_PASSWORD), login(TEST_PASSWORD)
    with pytest.raises(AuthRequired):
        accounts.change_password(UnitOfWork(), here, "wrong password", "new password 1")
    accounts.change_password(UnitOfWork(), here, TEST_PASSWORD, "new password 1")
    assert accounts.authenticate(UnitOfWork(), here).email == "ana@example.com"
    with pytest.raises(AuthRequired, match="revoked"):
        accounts.authenticate(UnitOfWork(), elsewhere)
    with pytest.raises(AuthRequired):
        login(TEST_PASSWORD)
    assert login("new password 1").startswith("rcli_")


def test_migration_0002_downgrades_and_upgrades_again(database_url: str) -> None:

    from rendercli.db.engines import get_engine
    from rendercli.db.schema import HEAD_REVISION, current_revision, downgrade, upgrade

    engine = get_engine(database_url)
    downgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    upgrade(engine)
    assert current_revision(engine) == HEAD_REVISION


def test_storage_key_answers_are_complete_or_an_error(tenants: Tenants) -> None:
    """What the orphan sweep and `asset remove` act on (issue 19): never a short answer."""
    t = tenants
    alice_key = "a" * 64
    many = [alice_key] + [f"{i:064x}" for i in range(10_000)]
    in_use = "SELECT * FROM rendercli_storage_keys_in_use(%s::text[])"
    referenced = "SELECT * FROM rendercli_storage_keys_referenced(%s::text[])"
    assert t.run(in_use, (many[:10_000],)) == [(alice_key,)]
    with pytest.raises(errors.InvalidParameterValue):
        t.run(in_use, (many,))  # 10001 keys: an error, not "none in use"
    with pytest.raises(errors.InvalidParameterValue):
        t.run(in_use, (None,))
    # The sweep's question is the worker role's alone; it needs no token.
    assert t.run(referenced, (many[:10_000],), token=None, url=t.worker_url) == [
        (alice_key,)]
    assert sorted(t.run(referenced, ([None, "b" * 64, alice_key],), token=None,
                        url=t.worker_url)) == [(alice_key,), ("b" * 64,)]
    with pytest.raises(errors.InvalidParameterValue):
        t.run(referenced, (many,), token=None, url=t.worker_url)
    for token in ("bob", None):  # a client, with or without a token, may not ask
        with pytest.raises(errors.InsufficientPrivilege):
            t.run(referenced, ([alice_key],), token=token)


def test_storage_keys_are_asked_in_bounded_calls(tenants: Tenants,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """rendercli asks about any number of keys in calls the functions accept."""
    from rendercli.db import tenancy
    from rendercli.services.unit_of_work import UnitOfWork

    keys = [f"{i:064x}" for i in range(12_000)] + ["a" * 64]
    with UnitOfWork(token=tenants.bob_token) as uow:
        assert tenancy.storage_keys_in_use(uow.rows, keys) == {"a" * 64}
    with UnitOfWork(tenants.worker_url) as uow:
        assert tenancy.storage_keys_referenced(uow.rows, keys) == {"a" * 64}
