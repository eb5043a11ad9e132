"""Issue 19: one account cannot poison another's renders through the segment cache.

Cache keys are made from the storage key of the object that is encoded, the database
keeps an asset's recorded hash equal to that key, and every stored input is checked
against its key before anything made from it is cached or published. Outputs are
checked against their recorded SHA-256 before they are copied out. Media is generated
at test time (a solid red clip for alice, a solid blue one for bob) and renders are
checked by decoding a frame.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from sqlalchemy.engine import make_url

from rendercli import storage
from rendercli.config import get_settings, read_settings
from rendercli.media.hash_memo import HashMemo
from rendercli.render.errors import RenderFailed
from rendercli.render.verify import Source, SourceCheck
from tests.conftest import Account
from tests.farm import Farm, wait_for
from tests.media_factory import make_color_video

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hash-media")
    return {colour: make_color_video(d / f"{colour}.mp4", colors=(colour,), seconds_each=1.0)
            for colour in ("red", "blue")}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def object_file(key: str) -> Path:
    return storage.object_path(get_settings().storage_dir, key)


def replace_object(key: str, content: Path) -> None:
    """Put other bytes under an object's name, as anyone who can write storage could."""
    final = object_file(key)
    tmp = final.with_name(".swap")
    tmp.write_bytes(content.read_bytes())
    os.replace(tmp, final)


def cache_files() -> set[str]:
    root = get_settings().storage_dir / "cache"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def colour(video: Path) -> tuple[int, int, int]:
    """The colour at the centre of the first decoded frame."""
    import av

    with av.open(str(video)) as container:
        frame = next(container.decode(video=0)).reformat(format="rgb24")
    plane = frame.planes[0]
    offset = (frame.height // 2) * plane.line_size + 3 * (frame.width // 2)
    data = bytes(plane)
    return data[offset], data[offset + 1], data[offset + 2]


def is_red(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return r > 200 and g < 60 and b < 60


def is_blue(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return b > 200 and r < 60 and g < 60


def add_clip(account: Account, project: str, clip: Path) -> str:
    account.ok("project", "create", project)
    listed = json.loads(account.ok("asset", "add", project, str(clip), "--json").stdout)
    return (listed[0] if isinstance(listed, list) else listed["assets"][0])["id"]


def render(account: Account, project: str, *extra: str) -> dict:
    return json.loads(account.ok("render", "submit", project, *FAST, *extra, "--json").stdout)


def as_client(database_url: str, token: str, sql: str, params: tuple) -> None:
    """One statement as the client login carrying ``token`` (PostgreSQL), or straight on
    the embedded SQLite file."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(database_url).database)
        try:
            conn.execute(sql.replace("%s", "?"), params)
            conn.commit()
        finally:
            conn.close()
        return
    client = make_url(os.environ["RENDERCLI_DATABASE_URL"]).set(drivername="postgresql")
    with psycopg.connect(client.render_as_string(hide_password=False)) as conn:
        conn.execute("SELECT set_config('rendercli.token', %s, true)", (token,))
        conn.execute(sql, params)


# ---------------------------------------------------------------- the scenario


def test_bob_cannot_record_alices_hash_and_alice_sees_her_own_pixels(
        alice: Account, bob: Account, database_url: str, media: dict[str, Path]) -> None:
    add_clip(alice, "alice film", media["red"])
    bob_asset = add_clip(bob, "bob film", media["blue"])
    alice_hash = sha(media["red"])

    refused = (sqlite3.IntegrityError if database_url.startswith("sqlite")
               else errors.CheckViolation)
    for sql, params in (
        ("UPDATE assets SET sha256 = %s WHERE id = %s", (alice_hash, bob_asset)),
        ("UPDATE assets SET sha256 = NULL WHERE id = %s", (bob_asset,)),
        ("INSERT INTO assets (id, project_id, position, kind, display_name, sha256, "
         "storage_key, size_bytes, container, rotation, has_audio, transition, "
         "transition_seconds, fade_in, fade_out, volume, mute, duck, created_at, updated_at) "
         "SELECT 'forged0000000000000000ab', project_id, 2, 'video', 'x.mp4', %s, "
         "storage_key, 1, 'mp4', 0, false, 'none', 0, 0, 0, 1, false, false, created_at, "
         "updated_at FROM assets WHERE id = %s", (alice_hash, bob_asset)),
    ):
        with pytest.raises(refused, match=r"(?i)check|hash_is_key"):
            as_client(database_url, bob.token, sql, params)

    bob_job = render(bob, "bob film")
    alice_job = render(alice, "alice film")
    assert alice_job["cache_hit"] is False
    assert is_blue(colour(Path(bob_job["output_path"])))
    assert is_red(colour(Path(alice_job["output_path"])))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cache_keys_come_from_the_storage_key_even_where_the_check_is_off(
        alice: Account, bob: Account, database_url: str, media: dict[str, Path]) -> None:
    """Whoever can open the SQLite file can turn CHECK constraints off: a recorded hash
    that disagrees with the object still never reaches a cache key."""
    add_clip(alice, "alice film", media["red"])
    bob_asset = add_clip(bob, "bob film", media["blue"])
    conn = sqlite3.connect(make_url(database_url).database)
    conn.execute("PRAGMA ignore_check_constraints = 1")
    conn.execute("UPDATE assets SET sha256 = ? WHERE id = ?", (sha(media["red"]), bob_asset))
    conn.commit()
    conn.close()

    assert is_blue(colour(Path(render(bob, "bob film")["output_path"])))
    alice_job = render(alice, "alice film")
    assert alice_job["cache_hit"] is False
    assert is_red(colour(Path(alice_job["output_path"])))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrading_sets_a_disagreeing_hash_to_the_storage_key(
        backend: str, postgres, tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from rendercli.db.engines import get_engine
    from rendercli.db.schema import upgrade

    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else postgres.create_database(from_template=False))
    engine = get_engine(url)
    upgrade(engine, "0006")
    insert = ("INSERT INTO assets (id, project_id, position, kind, display_name, sha256, "
              "storage_key, rotation, has_audio, transition, transition_seconds, fade_in, "
              "fade_out, volume, mute, duck, created_at, updated_at) VALUES (:id, 'p', :pos, "
              ":kind, 'n', :sha, :key, 0, false, 'none', 0, 0, 0, 1, false, false, "
              "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    rows = [("good", 1, "video", "a" * 64, "a" * 64), ("lying", 2, "video", "b" * 64, "c" * 64),
            ("blank", 3, "image", None, "d" * 64), ("title", 4, "title", "e" * 64, None)]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email, password_salt, password_verifier, "
                          "created_at) VALUES ('u', 'u@example.com', 's', 'v', "
                          "CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO projects (id, owner_id, name, created_at, updated_at) "
                          "VALUES ('p', 'u', 'film', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        for id_, pos, kind, sha256, key in rows:
            conn.execute(text(insert), {"id": id_, "pos": pos, "kind": kind, "sha": sha256,
                                        "key": key})
    upgrade(engine)
    with engine.connect() as conn:
        found = dict(conn.execute(text("SELECT id, sha256 FROM assets")).all())
    assert found == {"good": "a" * 64, "lying": "c" * 64, "blank": "d" * 64, "title": None}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE assets SET sha256 = :s WHERE id = 'good'"), {"s": "f" * 64})
    engine.dispose()
    if backend == "postgresql":
        postgres.drop_url(url)


def test_an_object_replaced_in_storage_fails_the_render_and_caches_nothing(
        alice: Account, database_url: str, media: dict[str, Path], tmp_path: Path) -> None:
    add_clip(alice, "film", media["red"])
    key = sha(media["red"])
    replace_object(key, media["blue"])
    cached = cache_files()

    result = alice("render", "submit", "film", *FAST, "--output", str(tmp_path / "out.mp4"))

    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "'red.mp4'" in result.stderr and "does not match its content hash" in result.stderr
    assert cache_files() == cached  # no segment, soundtrack or render was published
    assert not (tmp_path / "out.mp4").exists()
    [job] = json.loads(alice.ok("jobs", "list", "--json").stdout)
    assert job["status"] == "failed" and "'red.mp4'" in job["error"]

    # Adding the real file again (anywhere) puts the real bytes back: it renders, in red.
    alice.ok("project", "create", "again")
    alice.ok("asset", "add", "again", str(media["red"]))
    assert object_file(key).read_bytes() == media["red"].read_bytes()
    assert is_red(colour(Path(render(alice, "film")["output_path"])))


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_farm_task_given_a_replaced_object_fails_and_caches_nothing(
        alice: Account, media: dict[str, Path], farm: Farm,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rq import Worker

    from rendercli.services.renders.dispatch import redis_connection, render_queue

    monkeypatch.setenv("RENDERCLI_FARM_SPLIT", "always")
    add_clip(alice, "film", media["red"])
    key = sha(media["red"])
    replace_object(key, media["blue"])
    cached = cache_files()
    farm.start_worker("w1", via="rendercli")
    conn = redis_connection(read_settings().redis_url)
    wait_for(lambda: Worker.count(connection=conn, queue=render_queue(conn)) >= 1, 60,
             "the worker to register")

    job_id = alice.ok("render", "submit", "film", *FAST).stdout.strip()
    watched = alice("jobs", "watch", job_id, "--interval", "0.2", "--timeout", "120")

    assert watched.exit_code == 1, (watched.stdout, farm.logs())
    job = json.loads(alice.ok("jobs", "status", job_id, "--json").stdout)
    assert job["status"] == "failed"
    assert "'red.mp4'" in job["error"] and "does not match its content hash" in job["error"]
    tasks = json.loads(alice.ok("jobs", "logs", job_id, "--json").stdout)["tasks"]
    assert {t["kind"] for t in tasks} >= {"segment", "assemble"}  # it was split
    assert cache_files() == cached

    replace_object(key, media["red"])
    job_id = alice.ok("render", "submit", "film", *FAST).stdout.strip()
    assert alice("jobs", "watch", job_id, "--timeout", "120").exit_code == 0, farm.logs()
    done = json.loads(alice.ok("jobs", "status", job_id, "--json").stdout)
    assert is_red(colour(Path(done["output_path"])))


# ---------------------------------------------------------------- the check and its memo


def test_an_unchanged_object_is_hashed_once_per_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rendercli.render import verify

    obj = tmp_path / "obj"
    obj.write_bytes(b"x" * 100_000)
    source = Source(obj, hashlib.sha256(obj.read_bytes()).hexdigest(), "'clip.mp4'")
    hashed: list[Path] = []
    real_hash = verify._hash
    monkeypatch.setattr(verify, "_hash", lambda p: (hashed.append(p), real_hash(p))[1])

    memo_file = tmp_path / "memo.sqlite3"
    SourceCheck([source], HashMemo(memo_file)).before()
    SourceCheck([source], HashMemo(memo_file)).before()  # a new process, same machine
    assert hashed == [obj]

    # Rewritten in place, same size: its mtime and ctime moved, so it is read again.
    obj.write_bytes(b"y" * 100_000)
    with pytest.raises(RenderFailed, match=r"'clip.mp4'.*does not match its content hash"):
        SourceCheck([source], HashMemo(memo_file)).before()
    assert hashed == [obj, obj]


def test_an_object_changed_while_it_renders_is_not_published(tmp_path: Path) -> None:
    obj = tmp_path / "obj"
    obj.write_bytes(b"x" * 1000)
    check = SourceCheck([Source(obj, hashlib.sha256(b"x" * 1000).hexdigest(), "'a.mp4'")],
                        HashMemo(None))
    check.before()
    check.after()  # unchanged: fine
    tmp = tmp_path / "swap"
    tmp.write_bytes(b"x" * 1000)  # the same bytes, but another file put in its place
    os.replace(tmp, obj)
    with pytest.raises(RenderFailed, match=r"'a.mp4'.*changed while it was being rendered"):
        check.after()


# ---------------------------------------------------------------- outputs copied out


def test_a_changed_output_is_not_downloaded(alice: Account, media: dict[str, Path],
                                            tmp_path: Path) -> None:
    add_clip(alice, "film", media["red"])
    job = render(alice, "film")
    output = Path(job["output_path"])
    data = bytearray(output.read_bytes())
    data[-100:] = bytes(100)  # same size, other bytes
    output.chmod(0o644)
    output.write_bytes(bytes(data))

    out = tmp_path / "out"
    out.mkdir()
    result = alice("jobs", "download", job["id"], "-o", str(out / "copy.mp4"))

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "does not match the SHA-256 recorded" in result.stderr
    assert list(out.iterdir()) == []  # no file, no partial copy

    # `render submit --output` and `render batch --output-dir` copy through the same check.
    from rendercli.cli.command_app import command_scope
    from rendercli.cli.renders import finish
    from rendercli.errors import OperationFailed
    from rendercli.services.accounts import authenticate
    from rendercli.services.renders import views
    from rendercli.services.unit_of_work import UnitOfWork

    user = authenticate(UnitOfWork(), alice.token)
    # As inside a command: its application object (settings, store) is this test's.
    with command_scope(), pytest.raises(OperationFailed,
                                        match="does not match the SHA-256 recorded"):
        view = views.get(UnitOfWork(token=alice.token), user.id, job["id"])
        finish(view, out / "submitted.mp4", False)
    assert list(out.iterdir()) == []


def test_project_export_copies_no_object_whose_bytes_changed(
        alice: Account, media: dict[str, Path], tmp_path: Path) -> None:
    add_clip(alice, "film", media["red"])
    replace_object(sha(media["red"]), media["blue"])
    out = tmp_path / "out"
    out.mkdir()

    result = alice("project", "export", "film", "-o", str(out / "film.yaml"))

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "does not match the SHA-256 recorded" in result.stderr
    assert [p for p in out.rglob("*") if p.is_file()] == []
