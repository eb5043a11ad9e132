"""`rendercli render batch`: one project and one render per data row, on both databases."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rendercli.db.models import Project, RenderJob
from tests.conftest import Account
from tests.farm import Farm
from tests.media_factory import make_audio, make_video
from tests.orm import get_session_factory

SPEC = """\
version: 1
output: {preset: 480p, fps: 10, quality: draft, name: "greeting-{{ name }}.mp4"}
timeline:
  - title: "Hello {{ name }}"
    duration: 1
  - media: intro.mp4
    transition: fade:0.5
music:
  - media: song.mp3
    duck: true
"""


def make_batch_media(folder: Path) -> Path:
    """The clip and the song SPEC names, in `folder`."""
    make_video(folder / "intro.mp4", duration=1.5, size=(160, 120))
    make_audio(folder / "song.mp3", duration=2.0)
    return folder


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch_media(tmp_path_factory.mktemp("batch-media"))


@pytest.fixture
def folder(tmp_path: Path, media: Path) -> Path:
    folder = tmp_path / "greetings"
    shutil.copytree(media, folder)
    (folder / "video.yaml").write_text(SPEC, encoding="utf-8")
    # A spreadsheet's CSV: a BOM and CRLF line ends.
    (folder / "rows.csv").write_bytes("\ufeffname,city\r\nAna,Lisboa\r\nBo,Oslo\r\n"
                                      "Céu,Porto\r\n".encode())
    return folder


def counts(url: str) -> tuple[int, int]:
    with get_session_factory(url)() as session:
        return (session.scalar(select(func.count()).select_from(Project)) or 0,
                session.scalar(select(func.count()).select_from(RenderJob)) or 0)


@pytest.mark.slow
def test_a_batch_renders_one_video_per_row_inline(
    alice: Account, folder: Path, tmp_path: Path, database_url: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = alice.ok("render", "batch", str(folder / "video.yaml"), "--data",
                      str(folder / "rows.csv"), "--name-field", "name", "--output-dir",
                      str(out), "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["row"], x["name"], x["status"]) for x in lines] == [
        (1, "Ana", "completed"), (2, "Bo", "completed"), (3, "Céu", "completed")]
    assert [Path(x["output_path"]).name for x in lines] == [
        "greeting-Ana.mp4", "greeting-Bo.mp4", "greeting-Céu.mp4"]
    assert sorted(p.name for p in out.iterdir()) == [
        "greeting-Ana.mp4", "greeting-Bo.mp4", "greeting-Céu.mp4"]
    batch_id = {x["batch_id"] for x in lines}.pop()
    assert f"batch {batch_id}: 3/3 done, 0 failed" in result.stderr
    listed = json.loads(alice.ok("jobs", "list", "--batch", batch_id, "--json").stdout)
    assert sorted(j["project_name"] for j in listed) == ["video-Ana", "video-Bo", "video-Céu"]
    assert {j["id"] for j in listed} == {x["job_id"] for x in lines}
    assert json.loads(alice.ok("jobs", "list", "--batch", "nosuchbatch", "--json").stdout) == []
    watched = alice("jobs", "watch", "--batch", batch_id, "--json")
    assert watched.exit_code == 0
    assert alice("jobs", "cancel", "--batch", "nosuchbatch").exit_code == 3
    # Each row's project holds its own title; the shared media is stored once.
    items = json.loads(alice.ok("asset", "list", "video-Bo", "--json").stdout)["assets"]
    assert items[0]["title"]["text"] == "Hello Bo"
    assert counts(database_url) == (3, 3)
    # The same batch again: nothing to apply, every render from the cache.
    again = alice.ok("render", "batch", str(folder / "video.yaml"), "--data",
                     str(folder / "rows.csv"), "--name-field", "name", "--json")
    jobs = [json.loads(alice.ok("jobs", "status", json.loads(line)["job_id"], "--json").stdout)
            for line in again.stdout.splitlines()]
    assert [j["cache_hit"] for j in jobs] == [True, True, True]


def test_one_bad_row_fails_the_batch_and_nothing_is_queued(
    alice: Account, folder: Path, database_url: str
) -> None:
    (folder / "rows.csv").write_text("name,clip\nAna,intro.mp4\nBo,\nCéu,missing.mp4\n",
                                     encoding="utf-8")
    (folder / "video.yaml").write_text(SPEC.replace("media: intro.mp4", "media: '{{ clip }}'"),
                                       encoding="utf-8")
    result = alice("render", "batch", str(folder / "video.yaml"), "--data",
                   str(folder / "rows.csv"), "--name-field", "name")
    assert result.exit_code == 2
    assert "rows.csv:3:1: row 2: no value for {{ clip }}" in result.stderr
    assert "rows.csv:4:1: row 3: no such file: 'missing.mp4'" in result.stderr
    assert result.stderr.endswith("2 problems found; nothing was changed\n")
    assert counts(database_url) == (0, 0)


def test_rows_need_distinct_names_and_the_name_field_must_exist(
    alice: Account, folder: Path, database_url: str
) -> None:
    (folder / "rows.csv").write_text("name\nAna\nAna\n", encoding="utf-8")
    args = ("render", "batch", str(folder / "video.yaml"), "--data", str(folder / "rows.csv"))
    result = alice(*args, "--name-field", "name")
    assert result.exit_code == 2
    assert "row 2: project name 'video-Ana' is also row 1's" in result.stderr
    result = alice(*args, "--name-field", "nom")
    assert result.exit_code == 2 and "--name-field 'nom' is not a field" in result.stderr
    (folder / "rows.csv").write_text("", encoding="utf-8")
    result = alice(*args)
    assert result.exit_code == 2 and "rows.csv:1:1: the file is empty" in result.stderr
    assert counts(database_url) == (0, 0)


@pytest.mark.slow
def test_a_farm_batch_is_queued_at_once_and_followed_by_batch_id(
    alice: Account, folder: Path, farm: Farm, database_url: str
) -> None:
    queued = alice.ok("render", "batch", str(folder / "video.yaml"), "--data",
                      str(folder / "rows.csv"), "--name-field", "name", "--json")
    lines = [json.loads(line) for line in queued.stdout.splitlines()]
    assert [x["status"] for x in lines] == ["queued"] * 3
    batch_id = lines[0]["batch_id"]
    cancelled = alice.ok("jobs", "cancel", "--batch", batch_id, "--json")
    assert len(json.loads(cancelled.stdout)) == 3
    listed = json.loads(alice.ok("jobs", "list", "--batch", batch_id, "--json").stdout)
    assert {j["status"] for j in listed} == {"cancelled"}
    # Again, now with workers and --wait: one line per finished row, exit 0.
    farm.start_worker("b1")
    farm.start_worker("b2")
    waited = alice("render", "batch", str(folder / "video.yaml"), "--data",
                   str(folder / "rows.csv"), "--name-field", "name", "--wait", "--json")
    assert waited.exit_code == 0, (waited.stderr, farm.logs())
    rows = [json.loads(line) for line in waited.stdout.splitlines()]
    assert sorted(x["row"] for x in rows) == [1, 2, 3]
    assert {x["status"] for x in rows} == {"completed"}
    assert "3/3 done, 0 failed" in waited.stderr
    watched = alice("jobs", "watch", "--batch", rows[0]["batch_id"])
    assert watched.exit_code == 0


def test_migrations_0005_0006_add_batch_ids_and_spec_origins(
        database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from sqlalchemy import inspect, text

    from rendercli.db.engines import get_engine
    from rendercli.db.schema import HEAD_REVISION, current_revision, downgrade, upgrade

    if database_url.startswith("sqlite"):
        url, server = f"sqlite:///{tmp_path / 'old.db'}", None
    else:
        server = request.getfixturevalue("postgres")
        url = server.create_database(from_template=False)
    try:
        engine = get_engine(url)
        upgrade(engine, "0003")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (id, email, password_salt, password_verifier, created_at) "
                "VALUES ('u', 'u@example.com', 's', 'v', CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO projects (id, owner_id, name, created_at, updated_at) "
                "VALUES ('p', 'u', 'p', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO render_jobs (id, project_id, status, progress, preset, format, fps, "
                "quality, use_cache, attempts, created_at, updated_at) VALUES ('j', 'p', "
                "'completed', 100, '480p', 'mp4', 10, 'draft', true, 1, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"))
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
        with engine.connect() as conn:
            assert conn.execute(text("SELECT batch_id FROM render_jobs")).scalar_one() is None
            # 0006: existing projects were not made by a batch.
            assert conn.execute(text("SELECT spec_origin FROM projects")).scalar_one() is None
            indexes = {i["name"] for i in inspect(conn).get_indexes("render_jobs")}
        assert "ix_render_jobs_batch_id" in indexes
        downgrade(engine, "0003")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("render_jobs")}
        assert "batch_id" not in columns
        with engine.connect() as conn:
            assert "spec_origin" not in {c["name"] for c in inspect(conn).get_columns("projects")}
        engine.dispose()
    finally:
        if server is not None:
            from rendercli.db.engines import dispose_all

            dispose_all()
            server.drop_url(url)


def test_a_video_not_copied_into_the_output_dir_fails_its_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file that appears in --output-dir while the batch renders (or a copy that fails)
    # must not count as done: CI would pass with the video missing from its artifacts.
    from types import SimpleNamespace

    from rendercli.cli.command_app import command_scope
    from rendercli.cli.renders import _BatchTally
    from rendercli.config import get_settings

    out = tmp_path / "out"
    out.mkdir()
    (out / "ana.mp4").write_bytes(b"someone else's")
    renders = get_settings().storage_dir / "renders"  # where renders leave their outputs
    renders.mkdir(parents=True, exist_ok=True)
    rendered = {"j1": renders / "j1.mp4", "j2": None, "j3": renders / "j3.mp4"}
    for path in rendered.values():
        if path is not None:
            path.write_bytes(b"video")
    rows = {"j1": SimpleNamespace(number=1, name="Ana", output_name="ana.mp4"),
            "j2": SimpleNamespace(number=2, name="Bo", output_name="bo.mp4"),
            "j3": SimpleNamespace(number=3, name="Cy", output_name="cy.mp4")}
    tally = _BatchTally(out, True, False)
    tally.batch_id, tally.total = "b", 3
    digest = hashlib.sha256(b"video").hexdigest()  # what the render recorded
    with command_scope():  # as in the command: its store is this test's storage
        for job_id, path in rendered.items():
            tally.finished(rows[job_id], SimpleNamespace(
                id=job_id, status="completed", output_path=path and str(path),
                output_url=path and path.as_uri(), output_sha256=path and digest,
                error=None))
    assert (tally.done, tally.failed) == (1, 2)
    assert (out / "ana.mp4").read_bytes() == b"someone else's"
    assert (out / "cy.mp4").read_bytes() == b"video"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["row"], x["status"], x["output_path"]) for x in lines] == [
        (1, "completed", str(rendered["j1"])), (2, "completed", None),
        (3, "completed", str(out / "cy.mp4"))]
    assert "already exists" in lines[0]["error"] and "no output file" in lines[1]["error"]
    assert lines[2]["error"] is None


def test_a_name_longer_than_200_characters_is_an_error_naming_the_row(
    alice: Account, folder: Path, database_url: str
) -> None:
    (folder / "rows.csv").write_text(f"name\nAna\n{'x' * 201}\n", encoding="utf-8")
    result = alice("render", "batch", str(folder / "video.yaml"), "--data",
                   str(folder / "rows.csv"), "--name-field", "name")
    assert result.exit_code == 2
    assert ("rows.csv:3:1: row 2: the name field 'name' is 201 characters; at most 200 are "
            "allowed") in result.stderr
    assert counts(database_url) == (0, 0)


def test_batch_wait_gives_up_after_timeout_with_124(
    alice: Account, folder: Path, farm: Farm, database_url: str
) -> None:
    args = ("render", "batch", str(folder / "video.yaml"), "--data", str(folder / "rows.csv"),
            "--name-field", "name")
    assert alice(*args, "--timeout", "5").exit_code == 2  # needs --wait
    result = alice(*args, "--wait", "--timeout", "0")  # no worker: nothing ends
    assert result.exit_code == 124
    assert "timed out after 0 s; 3 rows still running" in result.stderr
    assert "jobs watch --batch" in result.stderr
