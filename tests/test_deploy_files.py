"""The Dockerfile and docker-compose.yml: their structure, and that they agree with the code.

No Docker engine is needed: the compose file is parsed with PyYAML (the `test` extra)
and the Dockerfile line by line.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rendercli.config import RENDER_QUEUE

yaml = pytest.importorskip("yaml", reason="needs PyYAML: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

RENDERCLI_SERVICES = ["migrate", "worker", "cli"]  # the ones that run the rendercli image
STORAGE_PATH = "/data/storage"


# ---- compose ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def compose_configs() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["configs"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", ...]
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """What compose makes of `${NAME:-default}`, `${NAME}` and `$$` with this environment."""
    env = env or {}

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        found = env.get(name)
        return found if found else (default or "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", one, value).replace("$$", "$")


@dataclass
class Mount:
    source: str
    target: str


def _mounts(service: dict[str, Any]) -> list[Mount]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):  # long syntax
            mounts.append(Mount(str(volume.get("source", "")), volume["target"]))
        else:
            source, target = volume.split(":")[:2]
            mounts.append(Mount(source, target))
    return mounts


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on", {})
    if isinstance(depends, list):  # short syntax: no condition at all
        return {name: "service_started" for name in depends}
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def test_all_services_are_there(services: dict[str, Any]) -> None:
    assert {"db", "redis", "s3", "s3-init", "migrate", "worker", "cli",
            "dashboard"} <= set(services)


def test_db_and_redis_have_healthchecks(services: dict[str, Any]) -> None:
    for name, probe in (("db", ["pg_isready"]), ("redis", ["redis-cli", "ping"])):
        check = services[name].get("healthcheck") or {}
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        test = check.get("test")
        text = " ".join(test) if isinstance(test, list) else str(test)
        assert all(word in text for word in probe), f"{name}: healthcheck {test!r} lacks {probe}"


def test_redis_keeps_the_queue_across_restarts(services: dict[str, Any]) -> None:
    command = _command(services["redis"])
    assert "--appendonly" in command, command
    assert command[command.index("--appendonly") + 1] == "yes", command
    assert any(m.target == "/data" for m in _mounts(services["redis"])), "redis /data not kept"


def test_startup_order_waits_for_health_and_migrations(services: dict[str, Any]) -> None:
    assert _depends_on(services["migrate"]) == {"db": "service_healthy"}
    worker = _depends_on(services["worker"])
    assert worker.get("db") == "service_healthy", worker
    assert worker.get("redis") == "service_healthy", worker
    assert worker.get("migrate") == "service_completed_successfully", worker


def test_migrate_is_a_one_shot_schema_upgrade(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert _command(migrate) == ["rendercli", "db", "upgrade"]
    # Restarting it would loop; a worker waits for it to *complete*.
    assert migrate.get("restart", "no") == "no"


def test_volumes_are_named_and_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for mount in _mounts(service):
            assert not mount.source.startswith((".", "/", "~")), (
                f"{name}: bind mount {mount.source}; use a named volume"
            )
            assert mount.source in declared, f"{name}: volume {mount.source!r} not declared"
    assert "/var/lib/postgresql/data" in {m.target for m in _mounts(services["db"])}


SHARED_OVERRIDE = ROOT / "docker-compose.shared-storage.yml"
BUCKET_URL = "s3://rendercli/farm"


def _s3_identities(env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The SeaweedFS identities of the `rendercli-s3` config, by access key."""
    text = interpolate(compose_configs()["rendercli-s3"]["content"], env)
    found = {}
    for identity in json.loads(text)["identities"]:
        for cred in identity["credentials"]:
            found[cred["accessKey"]] = {"secret": cred["secretKey"],
                                        "actions": identity["actions"]}
    return found


def test_nothing_is_shared_but_the_bucket(services: dict[str, Any]) -> None:
    # Each rendercli container keeps its own storage directory (a cache of the bucket):
    # no volume is mounted by two services, and workers mount none at all (scaled
    # workers would share a named one).
    for name in RENDERCLI_SERVICES:
        env = _env(services[name])
        assert env.get("RENDERCLI_STORAGE_DIR") == STORAGE_PATH, name
        assert env.get("RENDERCLI_STORAGE_URL") == BUCKET_URL, name
        assert env.get("RENDERCLI_S3_ENDPOINT_URL") == "http://s3:8333", name
    assert not services["worker"].get("volumes"), "workers must not share a volume"
    users: dict[str, list[str]] = {}
    for name, service in services.items():
        for mount in _mounts(service):
            users.setdefault(mount.source, []).append(name)
    assert all(len(names) == 1 for names in users.values()), users


def test_the_bucket_is_created_before_anyone_uses_it(services: dict[str, Any]) -> None:
    s3, init = services["s3"], services["s3-init"]
    assert "minio" not in s3["image"].lower(), "MinIO's server is archived: use a maintained one"
    assert s3["image"].startswith("chrislusf/seaweedfs:") and not s3["image"].endswith(
        ":latest"), s3["image"]
    assert "-s3" in _command(s3), _command(s3)
    check = " ".join(s3["healthcheck"]["test"])
    assert "healthz" in check and ":8333" in check, check
    assert any(m.target == "/data" for m in _mounts(s3)), "the bucket's data is not kept"
    assert _depends_on(init) == {"s3": "service_healthy"}
    assert init.get("restart", "no") == "no"
    bucket = BUCKET_URL.split("/")[2]
    script = " ".join(_command(init))
    assert f"s3.bucket.create -name {bucket}" in script, script
    assert "grep -qw " + bucket in script, "re-creating an existing bucket would fail the up"
    for name in ("worker", "cli"):
        assert _depends_on(services[name]).get("s3-init") == "service_completed_successfully"


@pytest.mark.parametrize("env", [{}, {"S3_CLIENT_SECRET": "c1", "S3_WORKER_SECRET": "w1"}],
                         ids=["default", "set"])
def test_clients_and_workers_hold_their_own_s3_keys(services: dict[str, Any],
                                                    env: dict[str, str]) -> None:
    identities = _s3_identities(env)
    bucket = BUCKET_URL.split("/")[2]
    keys = {}
    for name in ("cli", "worker"):
        service_env = _env(services[name])
        key = service_env["AWS_ACCESS_KEY_ID"]
        assert key in identities, f"{name}: key {key} unknown to the s3 service"
        assert interpolate(service_env["AWS_SECRET_ACCESS_KEY"], env) == identities[key][
            "secret"], name
        assert "Admin" not in identities[key]["actions"], f"{name} holds the admin key"
        assert {f"Read:{bucket}", f"Write:{bucket}"} <= set(identities[key]["actions"])
        keys[name] = key
    assert keys["cli"] != keys["worker"]
    for secret_name, key in (("S3_CLIENT_SECRET", keys["cli"]),
                             ("S3_WORKER_SECRET", keys["worker"])):
        if secret_name in env:
            assert identities[key]["secret"] == env[secret_name]


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """What compose makes of two files, for the keys used here: mappings merge, volumes
    merge by target, other values are replaced."""
    out = dict(base)
    for key, value in override.items():
        if key == "volumes" and isinstance(value, list):
            by_target = {Mount(*v.split(":")[:2]).target: v for v in out.get(key, [])}
            by_target.update({Mount(*v.split(":")[:2]).target: v for v in value})
            out[key] = list(by_target.values())
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def test_the_shared_directory_alternative_shares_one_path(compose: dict[str, Any]) -> None:
    # docker-compose.shared-storage.yml: no bucket, one `storage` volume at one path in
    # every rendercli container (the database records files under it).
    override = yaml.safe_load(SHARED_OVERRIDE.read_text())
    merged = _merged(compose, override)
    assert "storage" in (merged.get("volumes") or {})
    for name in RENDERCLI_SERVICES:
        service = merged["services"][name]
        env = _env(service)
        assert env.get("RENDERCLI_STORAGE_URL") == "", f"{name} still uses the bucket"
        assert env.get("RENDERCLI_STORAGE_DIR") == STORAGE_PATH, name
        targets = {m.target for m in _mounts(service) if m.source == "storage"}
        assert targets == {STORAGE_PATH}, f"{name}: storage mounted at {targets or 'nothing'}"
        assert len({m.target for m in _mounts(service)}) == len(_mounts(service)), name


def test_worker_can_be_scaled(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed container_name prevents --scale"
    assert not worker.get("ports"), "host ports collide when the worker is scaled"


def test_db_and_redis_publish_no_host_ports(services: dict[str, Any]) -> None:
    for name in ("db", "redis", "s3"):
        assert not services[name].get("ports"), f"{name} published on the host"


# Which login each rendercli service uses, and the group role it must belong to.
DATABASE_LOGINS = {"migrate": (None, "owner"), "cli": ("rendercli_client", "client"),
                   "worker": ("rendercli_worker", "worker")}


def test_rendercli_services_share_one_image_and_configuration(services: dict[str, Any]) -> None:
    for name in RENDERCLI_SERVICES:
        service = services[name]
        assert service.get("image") == "rendercli:local", name
        build = service.get("build")
        assert (build if isinstance(build, str) else (build or {}).get("context")) == ".", name
        env = _env(service)
        assert env.get("RENDERCLI_REDIS_URL") == _env(services["migrate"])[
            "RENDERCLI_REDIS_URL"], name


def test_each_service_connects_as_its_own_role_never_the_superuser(
    services: dict[str, Any],
) -> None:
    from sqlalchemy.engine import make_url

    db_env = _env(services["db"])
    [init] = services["db"]["configs"]
    assert init["target"].startswith("/docker-entrypoint-initdb.d/")
    roles_sql = (ROOT / compose_configs()[init["source"]]["file"]).read_text()
    logins = set()
    for name, (group, _) in DATABASE_LOGINS.items():
        url = make_url(_env(services[name])["RENDERCLI_DATABASE_URL"])
        assert (url.host, url.port, url.database) == ("db", 5432, db_env["POSTGRES_DB"]), name
        assert url.username != db_env["POSTGRES_USER"], f"{name} connects as the superuser"
        created = re.search(rf"CREATE ROLE {url.username} LOGIN PASSWORD '([^']*)'(.*);",
                            roles_sql)
        assert created and created.group(1) == url.password, name
        if group is None:  # the owner: owns the database, so `db upgrade` may create
            assert f"ALTER DATABASE {url.database} OWNER TO {url.username};" in roles_sql
        else:
            assert created.group(2).strip() == f"IN ROLE {group}", name
            assert f"CREATE ROLE {group} NOLOGIN;" in roles_sql
        logins.add(url.username)
    assert len(logins) == 3


@pytest.mark.parametrize("env", [{}, {"REDIS_PASSWORD": "s3cret0"}], ids=["default", "set"])
def test_redis_requires_a_password_that_every_client_carries(
    services: dict[str, Any], env: dict[str, str]
) -> None:
    from urllib.parse import urlsplit

    command = [interpolate(word, env) for word in _command(services["redis"])]
    assert "--requirepass" in command, f"redis accepts anyone: {command}"
    password = command[command.index("--requirepass") + 1]
    assert password and password == env.get("REDIS_PASSWORD", password), command
    assert interpolate(_env(services["redis"])["REDISCLI_AUTH"], env) == password, (
        "the healthcheck's redis-cli would be refused"
    )
    clients = {name: _env(services[name]).get("RENDERCLI_REDIS_URL")
               for name in RENDERCLI_SERVICES}
    clients["dashboard"] = _env(services["dashboard"]).get("RQ_DASHBOARD_REDIS_URL")
    for name, url in clients.items():
        assert url, f"{name}: no Redis URL"
        parts = urlsplit(interpolate(url, env))
        assert (parts.hostname, parts.password) == ("redis", password), f"{name}: {url}"


def test_the_worker_is_rendercli_worker_not_plain_rq(services: dict[str, Any]) -> None:
    # A plain `rq worker` runs any function a Redis writer names; `rendercli worker` runs
    # only rendercli's render jobs, on the queue the code enqueues on (RENDER_QUEUE), with
    # the Redis of RENDERCLI_REDIS_URL (the same as every other service).
    assert _command(services["worker"]) == ["rendercli", "worker"]
    import typer

    from rendercli.cli.main import app

    assert typer.main.get_command(app).get_command(None, "worker") is not None  # type: ignore[arg-type]
    assert RENDER_QUEUE == "render-video"


def test_profiles_keep_cli_and_dashboard_out_of_a_plain_up(services: dict[str, Any]) -> None:
    assert services["cli"].get("profiles") == ["cli"]
    assert services["dashboard"].get("profiles") == ["dashboard"]
    for name in ("db", "redis", "s3", "s3-init", "migrate", "worker"):
        assert not services[name].get("profiles"), f"{name} would not start with `up`"
    assert _env(services["dashboard"]).get("RQ_DASHBOARD_REDIS_URL") == _env(
        services["worker"]
    ).get("RENDERCLI_REDIS_URL")


# ---- Dockerfile ---------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (KEYWORD, arguments)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions; comments dropped and continuation lines joined."""
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"instruction before FROM: {line}"
            stages[-1].instructions.append((keyword, rest))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def _env_instructions(stage: Stage) -> dict[str, str]:
    env = {}
    for rest in stage.args("ENV"):
        for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S+)", rest):
            env[key] = value.strip('"')
    return env


def test_dockerfile_is_multi_stage_from_a_builder(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    builders = [s for s in stages[:-1] if s.name == "builder"]
    assert builders, "no stage named builder"
    builds = " ".join(builders[0].args("RUN"))
    assert "pip wheel" in builds or "-m build" in builds, "the builder builds no wheel"
    final = stages[-1]
    assert any(rest.startswith("--from=builder") for rest in final.args("COPY")), (
        "the final stage copies nothing from the builder"
    )
    for stage in (builders[0], final):
        assert stage.base.startswith("python:3.11-slim"), stage.base


def test_final_stage_runs_as_a_non_root_user(stages: list[Stage]) -> None:
    users = stages[-1].args("USER")
    assert users, "no USER in the final stage: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]}"


def test_final_stage_installs_ffmpeg_lean(stages: list[Stage]) -> None:
    runs = [r for r in stages[-1].args("RUN") if "apt-get install" in r]
    assert any(re.search(r"\bffmpeg\b", r) for r in runs), "ffmpeg not installed in the image"
    for run in runs:
        assert "--no-install-recommends" in run, run
        assert "rm -rf /var/lib/apt/lists" in run, "apt lists left in the layer"


def test_final_stage_environment_and_command(stages: list[Stage]) -> None:
    final = stages[-1]
    env = _env_instructions(final)
    assert env.get("RENDERCLI_DATA_DIR") == "/data"
    assert env.get("RENDERCLI_STORAGE_DIR") == STORAGE_PATH
    assert final.args("WORKDIR")[-1] == "/data"
    (cmd,) = final.args("CMD") or [""]
    assert json.loads(cmd)[0] == "rendercli", f"CMD {cmd}"
    # No ENTRYPOINT: compose runs `rendercli worker` and other commands in this image.
    assert not final.args("ENTRYPOINT")


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(c.rsplit("/", 1)[-1], pattern[3:]) for c in candidates)
        else:
            hit = any(fnmatch.fnmatch(c, pattern) for c in candidates)
        if hit:
            ignored = not negate
    return ignored


def test_dockerignore_keeps_build_inputs_and_drops_the_rest(stages: list[Stage]) -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    copied = []
    for stage in stages:
        for rest in stage.args("COPY"):
            words = [w for w in rest.split() if not w.startswith("--")]
            if not rest.startswith("--from"):
                copied += words[:-1]
    assert copied, "the Dockerfile copies nothing from the build context"
    for source in copied:
        source = source.rstrip("/")
        assert not _dockerignored(source, patterns), f".dockerignore drops {source}"
        if (ROOT / source).is_dir():
            assert not _dockerignored(f"{source}/cli/main.py", patterns), f"{source}/ emptied"
    for junk in (".git", ".venv", "tests/test_assets.py", "rendercli/__pycache__/x.pyc",
                 "rendercli.db"):
        assert _dockerignored(junk, patterns), f"{junk} would be sent to the build"


# ---- consistency with the code --------------------------------------------------------------


def _names_the_code_reads() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "rendercli").rglob("*.py"):
        names |= set(re.findall(r"[\"'](RENDERCLI_[A-Z0-9_]+)[\"']", path.read_text()))
    return names


def test_every_rendercli_variable_is_one_the_code_reads() -> None:
    known = _names_the_code_reads()
    assert {"RENDERCLI_DATABASE_URL", "RENDERCLI_REDIS_URL", "RENDERCLI_STORAGE_DIR"} <= known
    for path in (COMPOSE, SHARED_OVERRIDE, DOCKERFILE):
        used = set(re.findall(r"\bRENDERCLI_[A-Z0-9_]+\b", path.read_text()))
        assert used, f"{path.name} sets no RENDERCLI_ variable"
        unknown = used - known
        assert not unknown, f"{path.name} uses {sorted(unknown)}, which rendercli never reads"
