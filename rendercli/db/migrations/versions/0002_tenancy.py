"""tenancy: login proofs instead of password hashes; PostgreSQL functions and row security

Both databases: users keep a bcrypt salt and a verifier (SHA-256 of the bcrypt hash)
instead of the hash itself. Existing accounts keep their passwords: a stored hash H
already is bcrypt(password, salt), so the salt is H[:29] and the verifier SHA-256(H).
A login_secrets row holds the key that derives stable fake salts for unknown emails.

PostgreSQL only: SECURITY DEFINER functions for everything a client may do with accounts
and tokens, and row-level security enabled on every table. Grants and policies for the
rendercli_client and rendercli_worker roles are (re)applied by `rendercli db upgrade`
after the migrations (rendercli/db/access.py), because roles are created by an admin.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import hashlib
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("users", "auth_tokens", "projects", "assets", "render_jobs", "analytics_events",
          "login_secrets")


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "login_secrets",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hmac_key", sa.String(length=64), nullable=False),
        sa.Column("bcrypt_cost", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_secrets")),
    )
    bind.execute(
        sa.text("INSERT INTO login_secrets (id, hmac_key, bcrypt_cost) VALUES (1, :k, 12)"),
        {"k": secrets.token_hex(32)},
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_salt", sa.String(length=29), nullable=True))
        batch_op.add_column(sa.Column("password_verifier", sa.String(length=64), nullable=True))
    rows = bind.execute(sa.text("SELECT id, password_hash FROM users")).all()
    for user_id, password_hash in rows:
        bind.execute(
            sa.text("UPDATE users SET password_salt = :s, password_verifier = :v WHERE id = :i"),
            {"s": password_hash[:29], "i": user_id,
             "v": hashlib.sha256(password_hash.encode("ascii")).hexdigest()},
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("password_salt", existing_type=sa.String(length=29), nullable=False)
        batch_op.alter_column("password_verifier", existing_type=sa.String(length=64),
                              nullable=False)
        batch_op.drop_column("password_hash")

    if bind.dialect.name == "postgresql":
        schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
        # Straight to the driver: no parameters, so '%' in function bodies stays as is.
        cursor = bind.connection.dbapi_connection.cursor()
        for statement in postgres_statements(schema):
            cursor.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
        for table in TABLES:
            for (policy,) in bind.exec_driver_sql(
                f"SELECT policyname FROM pg_policies WHERE schemaname = current_schema() "
                f"AND tablename = '{table}'"
            ):
                bind.exec_driver_sql(f'DROP POLICY "{policy}" ON {schema}.{table}')
            bind.exec_driver_sql(f"ALTER TABLE {schema}.{table} DISABLE ROW LEVEL SECURITY")
        for (signature,) in bind.exec_driver_sql(
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "WHERE p.pronamespace = current_schema()::regnamespace "
            "AND p.proname LIKE 'rendercli\\_%%'"
        ).all():
            bind.exec_driver_sql(f"DROP FUNCTION {signature}")
    # The old hashes cannot be rebuilt from verifiers: passwords must be reset after this.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(length=100), nullable=True))
    bind.execute(sa.text("UPDATE users SET password_hash = '!'"))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=sa.String(length=100),
                              nullable=False)
        batch_op.drop_column("password_verifier")
        batch_op.drop_column("password_salt")
    op.drop_table("login_secrets")


# Every function: SECURITY DEFINER only where it must read what the caller may not,
# search_path pinned (pg_catalog first, pg_temp last), every table schema-qualified,
# EXECUTE revoked from PUBLIC (rendercli/db/access.py grants it to the intended roles).
PIN = "SET search_path = pg_catalog, {s}, pg_temp"

FUNCTIONS = [
    # -- internal helpers (no role may call these directly) --------------------------
    """
CREATE FUNCTION {s}.rendercli_hash_token(p_token text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE {pin}
AS $fn$ SELECT encode(sha256(convert_to(p_token, 'UTF8')), 'hex') $fn$
""",
    """
CREATE FUNCTION {s}.rendercli_hmac_sha256(p_key bytea, p_msg bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE {pin}
AS $fn$
DECLARE
    k bytea := p_key;
    ipad bytea;
    opad bytea;
BEGIN
    IF length(k) > 64 THEN k := sha256(k); END IF;
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);
        opad := set_byte(opad, i, get_byte(k, i) # 92);
    END LOOP;
    RETURN sha256(opad || sha256(ipad || p_msg));
END
$fn$
""",
    # cuid2-shaped ids (a lower-case letter, then base36), like rendercli.db.ids.
    """
CREATE FUNCTION {s}.rendercli_new_id() RETURNS varchar
LANGUAGE sql VOLATILE {pin}
AS $fn$
SELECT chr(97 + mod(get_byte(b, 0), 26))
       || string_agg(substr('0123456789abcdefghijklmnopqrstuvwxyz',
                            mod(get_byte(b, i), 36) + 1, 1), '' ORDER BY i)
FROM (SELECT uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) AS b) AS r,
     generate_series(1, 23) AS i
GROUP BY b
$fn$
""",
    # A token like secrets.token_urlsafe(32): 244 random bits from the server's CSPRNG.
    """
CREATE FUNCTION {s}.rendercli_new_token() RETURNS text
LANGUAGE sql VOLATILE {pin}
AS $fn$
SELECT 'rcli_' || translate(rtrim(encode(uuid_send(gen_random_uuid())
                                         || uuid_send(gen_random_uuid()), 'base64'), '='),
                            '+/', '-_')
$fn$
""",
    """
CREATE FUNCTION {s}.rendercli_record_event(p_name text, p_user_id varchar, p_props text)
RETURNS void
LANGUAGE plpgsql VOLATILE {pin}
AS $fn$
BEGIN
    INSERT INTO {s}.analytics_events (id, name, user_id, properties, created_at)
    VALUES ({s}.rendercli_new_id(), p_name, p_user_id, p_props::json, now());
EXCEPTION WHEN OTHERS THEN
    NULL;  -- analytics never fail an account operation
END
$fn$
""",
    """
CREATE FUNCTION {s}.rendercli_normalize_email(p_email text) RETURNS text
LANGUAGE sql IMMUTABLE {pin}
AS $fn$
SELECT CASE WHEN e IS NOT NULL AND length(e) <= 320 AND e ~ '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'
            THEN e ELSE '' END
FROM (SELECT lower(btrim(left(p_email, 400))) AS e) AS n
$fn$
""",
    # -- identity: the user of the token in this transaction's rendercli.token setting --
    """
CREATE FUNCTION {s}.rendercli_current_user_id() RETURNS varchar
LANGUAGE sql STABLE SECURITY DEFINER {pin}
AS $fn$
SELECT t.user_id
FROM {s}.auth_tokens AS t
WHERE t.token_hash = {s}.rendercli_hash_token(
          nullif(left(current_setting('rendercli.token', true), 200), ''))
  AND t.revoked_at IS NULL
  AND (t.expires_at IS NULL OR t.expires_at > now())
$fn$
""",
    # The caller's project ids, as one array: policies compare `project_id = ANY (...)`,
    # which the planner evaluates once and answers from the project_id indexes.
    """
CREATE FUNCTION {s}.rendercli_my_project_ids() RETURNS varchar[]
LANGUAGE sql STABLE SECURITY DEFINER {pin}
AS $fn$
SELECT coalesce(array_agg(p.id), '{{}}')
FROM {s}.projects AS p
WHERE p.owner_id = {s}.rendercli_current_user_id()
$fn$
""",
    # -- accounts ------------------------------------------------------------------------
    """
CREATE FUNCTION {s}.rendercli_bcrypt_cost() RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER {pin}
AS $fn$ SELECT k.bcrypt_cost FROM {s}.login_secrets AS k WHERE k.id = 1 $fn$
""",
    # The salt for an email: the account's, or a fake one that looks the same and is
    # stable across calls, so salts never tell which emails have accounts.
    """
CREATE FUNCTION {s}.rendercli_login_salt(p_email text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER {pin}
AS $fn$
DECLARE
    v_email text := {s}.rendercli_normalize_email(p_email);
    v_alphabet text := './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    v_key text;
    v_cost integer;
    v_digest bytea;
    v_fake text := '';
    v_salt text;
BEGIN
    -- The fake is computed every time, so both answers take the same work.
    SELECT k.hmac_key, k.bcrypt_cost INTO v_key, v_cost FROM {s}.login_secrets AS k
    WHERE k.id = 1;
    v_digest := {s}.rendercli_hmac_sha256(decode(v_key, 'hex'), convert_to(v_email, 'UTF8'));
    FOR i IN 0..20 LOOP
        v_fake := v_fake || substr(v_alphabet, mod(get_byte(v_digest, i), 64) + 1, 1);
    END LOOP;
    v_fake := '$2b$' || lpad(v_cost::text, 2, '0') || '$' || v_fake
              || substr('.Oeu', mod(get_byte(v_digest, 21), 4) + 1, 1);
    SELECT u.password_salt INTO v_salt FROM {s}.users AS u
    WHERE u.email = v_email AND v_email <> '';
    RETURN coalesce(v_salt, v_fake);
END
$fn$
""",
    """
CREATE FUNCTION {s}.rendercli_register(p_email text, p_salt text, p_verifier text)
RETURNS TABLE (id varchar, email varchar, created_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {pin}
AS $fn$
DECLARE
    v_email text := {s}.rendercli_normalize_email(p_email);
    v_id varchar;
BEGIN
    IF v_email = '' THEN
        RAISE EXCEPTION 'not a valid email address' USING ERRCODE = '22023';
    END IF;
    IF p_salt IS NULL
       OR p_salt !~ ('^\\$2[aby]\\$(0[4-9]|[12][0-9]|3[01])\\$' || '[./A-Za-z0-9]{{21}}[.Oeu]$')
       OR substr(p_salt, 5, 2)::integer < (SELECT k.bcrypt_cost FROM {s}.login_secrets AS k
                                            WHERE k.id = 1)
       OR substr(p_salt, 5, 2)::integer > 16
       OR p_verifier IS NULL OR p_verifier !~ '^[0-9a-f]{{64}}$' THEN
        RAISE EXCEPTION 'invalid password salt or verifier' USING ERRCODE = '22023';
    END IF;
    INSERT INTO {s}.users AS u (id, email, password_salt, password_verifier, created_at)
    VALUES ({s}.rendercli_new_id(), v_email, p_salt, p_verifier, now())
    ON CONFLICT ON CONSTRAINT uq_users_email DO NOTHING
    RETURNING u.id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'email taken' USING ERRCODE = '23505';
    END IF;
    PERFORM {s}.rendercli_record_event('user.registered', v_id, '{{}}');
    RETURN QUERY SELECT u.id, u.email, u.created_at FROM {s}.users AS u WHERE u.id = v_id;
END
$fn$
""",
    # Issue a token row for a user; returns the secret once (only its SHA-256 is kept).
    """
CREATE FUNCTION {s}.rendercli_issue_token(p_user_id varchar, p_kind text, p_name text,
                                          p_expires_at timestamptz)
RETURNS TABLE (token text, token_id varchar)
LANGUAGE plpgsql VOLATILE {pin}
AS $fn$
DECLARE
    v_token text := {s}.rendercli_new_token();
    v_id varchar := {s}.rendercli_new_id();
BEGIN
    INSERT INTO {s}.auth_tokens (id, user_id, token_hash, kind, name, created_at, expires_at)
    VALUES (v_id, p_user_id, {s}.rendercli_hash_token(v_token), p_kind, p_name, now(),
            p_expires_at);
    RETURN QUERY SELECT v_token, v_id;
END
$fn$
""",
    # Log in with a proof, bcrypt(password, salt), computed by the client. No row: failed.
    """
CREATE FUNCTION {s}.rendercli_login(p_email text, p_proof text, p_session_name text,
                                    p_days integer)
RETURNS TABLE (token text, token_id varchar, expires_at timestamptz, user_id varchar,
               email varchar, user_created_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {pin}
AS $fn$
DECLARE
    v_email text := {s}.rendercli_normalize_email(p_email);
    v_user {s}.users%ROWTYPE;
    v_expires timestamptz := now() + make_interval(
        days => least(greatest(coalesce(p_days, 30), 1), 3650));
    v_issued record;
BEGIN
    SELECT * INTO v_user FROM {s}.users AS u WHERE u.email = v_email AND v_email <> '';
    IF NOT FOUND OR p_proof IS NULL OR length(p_proof) > 100
       OR {s}.rendercli_hash_token(p_proof) <> v_user.password_verifier THEN
        RETURN;
    END IF;
    SELECT * INTO v_issued FROM {s}.rendercli_issue_token(
        v_user.id, 'session', left(coalesce(nullif(btrim(p_session_name), ''), 'login'), 100),
        v_expires);
    PERFORM {s}.rendercli_record_event('user.logged_in', v_user.id, '{{}}');
    RETURN QUERY SELECT v_issued.token, v_issued.token_id, v_expires, v_user.id, v_user.email,
                        v_user.created_at;
END
$fn$
""",
    # What a presented token is: 'ok', 'revoked' or 'expired' (no row: unknown). Only a
    # live token returns its user; it also refreshes last_used_at (at most once a minute).
    """
CREATE FUNCTION {s}.rendercli_authenticate(p_token text)
RETURNS TABLE (status text, token_id varchar, kind varchar, name varchar,
               expires_at timestamptz, user_id varchar, email varchar,
               user_created_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {pin}
AS $fn$
DECLARE
    v_token {s}.auth_tokens%ROWTYPE;
    v_user {s}.users%ROWTYPE;
BEGIN
    SELECT * INTO v_token FROM {s}.auth_tokens AS t
    WHERE t.token_hash = {s}.rendercli_hash_token(left(p_token, 200));
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_token.revoked_at IS NOT NULL THEN
        -- The caller holds this token, so its own kind and name reveal nothing new.
        RETURN QUERY SELECT 'revoked'::text, NULL::varchar, v_token.kind, v_token.name,
                            NULL::timestamptz, NULL::varchar, NULL::varchar, NULL::timestamptz;
        RETURN;
    END IF;
    IF v_token.expires_at IS NOT NULL AND v_token.expires_at <= now() THEN
        RETURN QUERY SELECT 'expired'::text, NULL::varchar, NULL::varchar, NULL::varchar,
                            v_token.expires_at, NULL::varchar, NULL::varchar,
                            NULL::timestamptz;
        RETURN;
    END IF;
    IF v_token.last_used_at IS NULL OR v_token.last_used_at < now() - interval '60 seconds' THEN
        UPDATE {s}.auth_tokens AS t SET last_used_at = now() WHERE t.id = v_token.id;
    END IF;
    SELECT * INTO v_user FROM {s}.users AS u WHERE u.id = v_token.user_id;
    RETURN QUERY SELECT 'ok'::text, v_token.id, v_token.kind, v_token.name,
                        v_token.expires_at, v_user.id, v_user.email, v_user.created_at;
END
$fn$
""",
    # Revoke the presented session, or (p_all) every login session of its user. API
    # tokens are revoked only through rendercli_revoke_token. Returns the count revoked.
    """
CREATE FUNCTION {s}.rendercli_logout(p_token text, p_all boolean)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {pin}
AS $fn$
DECLARE
    v_token {s}.auth_tokens%ROWTYPE;
    v_count integer;
BEGIN
    SELECT * INTO v_token FROM {s}.auth_tokens AS t
    WHERE t.token_hash = {s}.rendercli_hash_token(left(p_token, 200))
      AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now());
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF coalesce(p_all, false) THEN
        UPDATE {s}.auth_tokens AS t SET revoked_at = now()
        WHERE t.user_id = v_token.user_id AND t.kind = 'session' AND t.revoked_at IS NULL;
    ELSE
        UPDATE {s}.auth_tokens AS t SET revoked_at = now()
        WHERE t.id = v_token.id AND t.kind = 'session';
    END IF;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$fn$
""",
    # An API token for the caller (this transaction's token). NULL days: never expires.
    """
CREATE FUNCTION {s}.rendercli_create_token(p_name text, p_days integer)
RETURNS TABLE (token text, token_id varchar, expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {pin}
AS $fn$
DECLARE
    v_user varchar := {s}.rendercli_current_user_id();
    v_name text := btrim(p_name);
    v_expires timestamptz;
    v_issued record;
BEGIN
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'not authenticated' USING ERRCODE = '28000';
    END IF;
    IF v_name IS NULL OR length(v_name) < 1 OR length(v_name) > 100 THEN
        RAISE EXCEPTION 'token name must be 1 to 100 characters' USING ERRCODE = '22023';
    END IF;
    IF p_days IS NOT NULL AND (p_days < 1 OR p_days > 3650) THEN
        RAISE EXCEPTION 'expiry must be between 1 and 3650 days' USING ERRCODE = '22023';
    END IF;
    IF p_days IS NOT NULL THEN
        v_expires := now() + make_interval(days => p_days);
    END IF;
    SELECT * INTO v_issued FROM {s}.rendercli_issue_token(v_user, 'api', v_name, v_expires);
    PERFORM {s}.rendercli_record_event('token.created', v_user,
                                       json_build_object('expires_in_days', p_days)::text);
    RETURN QUERY SELECT v_issued.token, v_issued.token_id, v_expires;
END
$fn$
""",
    # Revoke one of the caller's own tokens by id; no row: not found (or not theirs).
    """
CREATE FUNCTION {s}.rendercli_revoke_token(p_token_id text)
RETURNS TABLE (id varchar, name varchar, kind varchar, created_at timestamptz,
               expires_at timestamptz, last_used_at timestamptz, revoked_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {pin}
AS $fn$
DECLARE
    v_user varchar := {s}.rendercli_current_user_id();
BEGIN
    IF v_user IS NULL THEN
        RETURN;
    END IF;
    UPDATE {s}.auth_tokens AS t SET revoked_at = coalesce(t.revoked_at, now())
    WHERE t.id = p_token_id AND t.user_id = v_user;
    RETURN QUERY SELECT t.id, t.name, t.kind, t.created_at, t.expires_at, t.last_used_at,
                        t.revoked_at
                 FROM {s}.auth_tokens AS t WHERE t.id = p_token_id AND t.user_id = v_user;
END
$fn$
""",
    # Change the caller's password: the old proof must match. Every other login session of
    # the account is revoked. False: the old password was wrong (or no valid token).
    """
CREATE FUNCTION {s}.rendercli_change_password(p_old_proof text, p_new_salt text,
                                              p_new_verifier text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER {pin}
AS $fn$
DECLARE
    v_user varchar := {s}.rendercli_current_user_id();
    v_hash text := {s}.rendercli_hash_token(
        nullif(left(current_setting('rendercli.token', true), 200), ''));
BEGIN
    IF v_user IS NULL OR p_old_proof IS NULL OR length(p_old_proof) > 100 THEN
        RETURN false;
    END IF;
    IF p_new_salt IS NULL
       OR p_new_salt !~ ('^\\$2[aby]\\$(0[4-9]|[12][0-9]|3[01])\\$' || '[./A-Za-z0-9]{{21}}[.Oeu]$')
       OR substr(p_new_salt, 5, 2)::integer > 16
       OR p_new_verifier IS NULL OR p_new_verifier !~ '^[0-9a-f]{{64}}$' THEN
        RAISE EXCEPTION 'invalid password salt or verifier' USING ERRCODE = '22023';
    END IF;
    UPDATE {s}.users AS u SET password_salt = p_new_salt, password_verifier = p_new_verifier
    WHERE u.id = v_user AND u.password_verifier = {s}.rendercli_hash_token(p_old_proof);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE {s}.auth_tokens AS t SET revoked_at = now()
    WHERE t.user_id = v_user AND t.kind = 'session' AND t.revoked_at IS NULL
      AND t.token_hash <> v_hash;
    RETURN true;
END
$fn$
""",
    # -- storage -----------------------------------------------------------------------
    # Which of these storage keys any asset still uses (any account's), so removing your
    # asset never deletes a file another account's asset shares. Keys are content hashes
    # the caller already holds; the shared storage directory shows the same thing.
    """
CREATE FUNCTION {s}.rendercli_storage_keys_in_use(p_keys text[])
RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER {pin}
AS $fn$
SELECT DISTINCT a.storage_key::text FROM {s}.assets AS a
WHERE {s}.rendercli_current_user_id() IS NOT NULL
  AND cardinality(p_keys) <= 10000
  AND a.storage_key = ANY (p_keys)
$fn$
""",
]


def postgres_statements(schema: str) -> list[str]:
    statements = [sql.format(s=schema, pin=PIN.format(s=schema)) for sql in FUNCTIONS]
    statements.append(
        "DO $do$ DECLARE f regprocedure; BEGIN "
        "FOR f IN SELECT p.oid::regprocedure FROM pg_proc p "
        "WHERE p.pronamespace = current_schema()::regnamespace "
        "AND p.proname LIKE 'rendercli\\_%' LOOP "
        "EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f); END LOOP; END $do$"
    )
    for table in TABLES:
        # Row security on, and no policies yet: every role but the owner sees nothing
        # until `rendercli db upgrade` grants the client and worker roles their rows.
        statements.append(f"ALTER TABLE {schema}.{table} ENABLE ROW LEVEL SECURITY")
        statements.append(f"REVOKE ALL ON {schema}.{table} FROM PUBLIC")
    return statements
