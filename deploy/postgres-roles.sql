-- Roles for the docker compose stack. The postgres image runs this once, as its superuser,
-- when the data volume is first created (docker-entrypoint-initdb.d). No rendercli
-- service connects as that superuser:
--   rendercli_owner   owns the database and schema; only `migrate` (rendercli db upgrade)
--   rendercli_cli     a member of rendercli_client: the CLI, under row-level security
--   rendercli_render  a member of rendercli_worker: the render workers
-- The group roles are what `rendercli db roles` prints. The passwords are for a local
-- stack, like every credential in docker-compose.yml.
CREATE ROLE rendercli_client NOLOGIN;
CREATE ROLE rendercli_worker NOLOGIN;
CREATE ROLE rendercli_owner LOGIN PASSWORD 'owner-secret';
CREATE ROLE rendercli_cli LOGIN PASSWORD 'cli-secret' IN ROLE rendercli_client;
CREATE ROLE rendercli_render LOGIN PASSWORD 'render-secret' IN ROLE rendercli_worker;
ALTER DATABASE rendercli OWNER TO rendercli_owner;
