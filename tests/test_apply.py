"""`rendercli apply`: a project made to match a spec file, on both databases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from rendercli.db.models import Project
from rendercli.render.text import DEFAULT_FONT
from tests.conftest import Account
from tests.media_factory import make_audio, make_corrupt, make_image, make_video
from tests.orm import get_session_factory, job_in

SPEC = """\
version: 1
output: {preset: 480p, format: mp4, fps: 10, quality: draft}
timeline:
  - title: "Hello Ana"
    duration: 2
  - media: intro.mp4
    trim_end: 3
    transition: fade:0.5
  - media: photo.png
    duration: 2
    motion: zoom-in
    text:
      - text: "Our trip"
        font: Brand.ttf
music:
  - media: song.mp3
    duck: true
"""


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("apply-media")
    make_video(folder / "intro.mp4", duration=4.0, size=(160, 120))
    make_video(folder / "other.mp4", duration=2.0, size=(160, 120), tone=330)
    make_image(folder / "photo.png", size=(160, 120))
    make_audio(folder / "song.mp3", duration=2.0)
    shutil.copy(DEFAULT_FONT, folder / "Brand.ttf")
    return folder


@pytest.fixture
def folder(tmp_path: Path, media: Path) -> Path:
    """A folder holding a spec and its media, as in a repository."""
    folder = tmp_path / "video"
    shutil.copytree(media, folder)
    (folder / "video.yaml").write_text(SPEC, encoding="utf-8")
    return folder


def apply_json(account: Account, *args: str | Path) -> dict:
    return json.loads(account.ok("apply", *map(str, args), "--json").stdout)


def listed(account: Account, project: str = "video") -> list[dict]:
    return json.loads(account.ok("asset", "list", project, "--json").stdout)["assets"]


def summary(items: list[dict]) -> list[tuple]:
    return [(a["position"], a["kind"], a["display_name"]) for a in items]


def project_row(url: str, name: str = "video") -> tuple[str, object]:
    with get_session_factory(url)() as session:
        project = session.scalars(select(Project).where(Project.name == name)).one()
        return project.id, project.updated_at


def objects(tmp_path: Path) -> list[Path]:
    root = tmp_path / "data" / "storage" / "objects"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_apply_creates_the_project_and_a_second_apply_changes_nothing(
    alice: Account, folder: Path, database_url: str, tmp_path: Path
) -> None:
    result = alice.ok("apply", str(folder / "video.yaml"))
    lines = result.stdout.splitlines()
    assert lines[0] == "+ create project video"
    assert lines[-1] == "applied to project video: 5 added"
    items = listed(alice)
    assert summary(items) == [(1, "title", "Hello Ana"), (2, "video", "intro.mp4"),
                              (3, "image", "photo.png"), (4, "audio", "song.mp3"),
                              (None, "font", "Brand.ttf")]
    title, intro, photo, song, _font = items
    assert title["title"]["text"] == "Hello Ana" and title["still_duration"] == 2
    assert (intro["trim_end"], intro["transition"], intro["transition_seconds"]) == (3, "fade",
                                                                                   0.5)
    assert (photo["motion"], photo["still_duration"], photo["text_count"]) == ("zoom-in", 2, 1)
    assert song["duck"] is True
    stored = objects(tmp_path)
    assert len(stored) == 4  # intro, photo, song, the font
    before = project_row(database_url)

    again = alice.ok("apply", str(folder / "video.yaml"))
    assert again.stdout == "no changes: project video matches the spec\n"
    assert project_row(database_url) == before  # updated_at too: nothing was written
    assert listed(alice) == items
    plan = apply_json(alice, folder / "video.yaml")
    assert (plan["changed"], plan["applied"], plan["ops"]) == (False, False, [])


def test_an_unchanged_apply_loads_no_orm_and_no_decoder(
    alice: Account, folder: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unchanged check is the spec, remembered hashes and probes, and a plain-SQL
    read of the project (services.items.read_items): no SQLAlchemy (bare sqlite3 or
    psycopg) and no PyAV. A changed file is probed (and hashed) again."""
    from tests.imports import modules_loaded_by

    alice.ok("apply", str(folder / "video.yaml"))
    monkeypatch.setenv("RENDERCLI_TOKEN", alice.token)
    argv = ["apply", str(folder / "video.yaml")]
    loaded = modules_loaded_by(argv, ["sqlalchemy", "av", "rich.progress"])
    assert loaded == []
    make_video(folder / "intro.mp4", duration=4.0, size=(160, 120), tone=550)  # new bytes
    assert "av" in modules_loaded_by(argv, ["av"])
    assert modules_loaded_by(argv, ["av"]) == []  # remembered again


def test_probes_are_remembered_while_the_file_and_the_limits_are_unchanged(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rendercli.media.hash_memo import HashMemo
    from rendercli.specfile.media import _probe

    clip = tmp_path / "clip.mp4"
    shutil.copy(media / "intro.mp4", clip)
    cache = HashMemo(tmp_path / "cache.sqlite3")
    calls: list[Path] = []

    def probe(path: Path):  # type: ignore[no-untyped-def]
        calls.append(path)
        return _probe(path)

    first = cache.probed(clip, probe)
    assert not isinstance(first, str) and first.kind == "video"
    assert cache.probed(clip, probe) == first and len(calls) == 1
    monkeypatch.setenv("RENDERCLI_MAX_DURATION", "3")  # a clip of 4 s is now too long
    refused = cache.probed(clip, probe)
    assert isinstance(refused, str) and "limit" in refused and len(calls) == 2
    assert isinstance(cache.probed(clip, probe), str) and len(calls) == 3  # not remembered
    monkeypatch.delenv("RENDERCLI_MAX_DURATION")
    assert cache.probed(clip, probe) == first and len(calls) == 3
    shutil.copy(media / "photo.png", clip)  # other content under the same name
    again = cache.probed(clip, probe)
    assert not isinstance(again, str) and again.kind == "image" and len(calls) == 4
    cache.close()


@pytest.mark.parametrize("tamper", [
    {"demuxer": "concat"},  # would be passed to ffmpeg as -f
    {"kind": "bogus"},
    {"width": -1},
    {"duration": "1; rm -rf /"},
    {"video_codec": "h264\u001b]0;pwned\u0007"},
    {"extra": 1},
])
def test_a_remembered_probe_is_used_only_in_the_shape_a_probe_gives(
    tmp_path: Path, media: Path, tamper: dict[str, object]
) -> None:
    import json
    import sqlite3

    from rendercli.media.hash_memo import HashMemo
    from rendercli.media.info import remembered
    from rendercli.specfile.media import _probe

    clip = tmp_path / "clip.mp4"
    shutil.copy(media / "intro.mp4", clip)
    calls: list[Path] = []

    def probe(path: Path):  # type: ignore[no-untyped-def]
        calls.append(path)
        return _probe(path)

    cache = HashMemo(tmp_path / "cache.sqlite3")
    first = cache.probed(clip, probe)
    assert not isinstance(first, str) and remembered(first.to_dict()) == first
    cache.close()
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:  # edited behind our back
        db.execute("UPDATE file_probes SET info = ?", (json.dumps({**first.to_dict(),
                                                                    **tamper}),))
    cache = HashMemo(tmp_path / "cache.sqlite3")
    assert cache.probed(clip, probe) == first and len(calls) == 2  # probed again
    cache.close()


def test_dry_run_prints_the_plan_and_apply_makes_it_so(
    alice: Account, folder: Path, database_url: str
) -> None:
    alice.ok("apply", str(folder / "video.yaml"))
    before = {a["display_name"]: a["id"] for a in listed(alice)}
    # Move the photo first, retrim the intro, swap the music, drop the title's text.
    (folder / "video.yaml").write_text("""\
version: 1
timeline:
  - media: photo.png
    duration: 2
    motion: zoom-in
    text: ["Our trip"]
  - title: "Hello Ana"
    duration: 2
  - media: intro.mp4
    trim_end: 2.5
    transition: fade:0.5
music:
  - media: song2.mp3
""", encoding="utf-8")
    make_audio(folder / "song2.mp3", duration=1.5, tone=500)
    state = project_row(database_url)
    plan = apply_json(alice, folder / "video.yaml", "--dry-run")
    assert project_row(database_url) == state and plan["applied"] is False
    ops = [(o["op"], o["list"], o["name"], o["position"], sorted(o.get("changes", {})))
           for o in plan["ops"]]
    assert ops == [
        ("remove", "fonts", "Brand.ttf", None, []),
        ("move", "timeline", "photo.png", 1, ["texts"]),
        ("update", "timeline", "intro.mp4", 3, ["trim_end"]),
        ("update", "music", "song2.mp3", 1, ["duck", "media"]),  # one file for another
    ]
    intro = next(o for o in plan["ops"] if o["name"] == "intro.mp4")
    assert intro["changes"] == {"trim_end": {"old": 3.0, "new": 2.5}}
    human = alice.ok("apply", str(folder / "video.yaml"), "--dry-run").stdout
    assert "~ update timeline 3   video intro.mp4: trim_end 3.0 -> 2.5\n" in human
    assert human.endswith("nothing changed\n")

    result = apply_json(alice, folder / "video.yaml")
    assert result["applied"] is True
    items = listed(alice)
    assert summary(items) == [(1, "image", "photo.png"), (2, "title", "Hello Ana"),
                              (3, "video", "intro.mp4"), (4, "audio", "song2.mp3")]
    # Items that stay keep their rows (and ids); the moved photo too.
    assert {a["display_name"]: a["id"] for a in items[:3]} == {
        k: before[k] for k in ("photo.png", "Hello Ana", "intro.mp4")}
    assert items[2]["trim_end"] == 2.5
    assert alice.ok("apply", str(folder / "video.yaml")).stdout.startswith("no changes")


def test_a_bad_file_leaves_the_project_as_it_was(
    alice: Account, folder: Path, database_url: str, tmp_path: Path
) -> None:
    alice.ok("apply", str(folder / "video.yaml"))
    items, state, stored = listed(alice), project_row(database_url), objects(tmp_path)
    make_corrupt(folder / "broken.mp4")
    make_video(folder / "new.mp4", duration=1.0, size=(160, 120))
    (folder / "video.yaml").write_text(
        SPEC.replace("trim_end: 3", "trim_end: 2").replace(
            "music:", "  - media: new.mp4\n  - media: broken.mp4\nmusic:"), encoding="utf-8")
    result = alice("apply", str(folder / "video.yaml"))
    assert result.exit_code == 2
    assert "video.yaml:16:12: 'broken.mp4': not a supported media file" in result.stderr
    assert result.stderr.endswith("1 problem found; nothing was changed\n")
    assert listed(alice) == items
    assert project_row(database_url) == state
    assert objects(tmp_path) == stored  # new.mp4 was not stored either
    assert not list((tmp_path / "data" / "storage" / "tmp").glob("stage-*"))


def test_a_failure_inside_the_transaction_rolls_back_and_unstores_new_files(
    alice: Account, folder: Path, database_url: str, tmp_path: Path
) -> None:
    alice.ok("apply", str(folder / "video.yaml"))
    items, state, stored = listed(alice), project_row(database_url), objects(tmp_path)
    project_id = state[0]
    with get_session_factory(database_url)() as session:  # a render in progress
        session.add(job_in(session, project_id, status="processing", preset="480p",
                              format="mp4", fps=10, quality="draft"))
        session.commit()
    make_video(folder / "new.mp4", duration=1.0, size=(160, 120))
    # Removes the title (refused while rendering) and adds a file never stored before.
    (folder / "video.yaml").write_text(SPEC.replace(
        '  - title: "Hello Ana"\n    duration: 2\n', "  - media: new.mp4\n"), encoding="utf-8")
    result = alice("apply", str(folder / "video.yaml"))
    assert result.exit_code == 5, result.stderr
    assert "cannot remove its items while project 'video' is rendering" in result.stderr
    assert listed(alice) == items and project_row(database_url) == state
    assert objects(tmp_path) == stored  # new.mp4 was staged and stored, then removed
    assert not list((tmp_path / "data" / "storage" / "tmp").glob("stage-*"))


def test_paths_may_not_leave_the_spec_folder(alice: Account, folder: Path) -> None:
    outside = folder.parent / "outside.mp4"
    shutil.copy(folder / "intro.mp4", outside)
    (folder / "link.mp4").symlink_to(outside)
    for path in ("../outside.mp4", "link.mp4"):
        (folder / "video.yaml").write_text(f"version: 1\ntimeline:\n  - media: {path}\n",
                                           encoding="utf-8")
        result = alice("apply", str(folder / "video.yaml"))
        assert result.exit_code == 2, result.stderr
        assert "outside the spec file's folder" in result.stderr
        assert alice("project", "show", "video").exit_code == 3
    alice.ok("apply", str(folder / "video.yaml"), "--allow-outside")
    assert summary(listed(alice)) == [(1, "video", "link.mp4")]


def test_placeholders_need_values(alice: Account, folder: Path) -> None:
    (folder / "video.yaml").write_text(SPEC.replace("Hello Ana", "Hello {{ name }}"),
                                       encoding="utf-8")
    result = alice("apply", str(folder / "video.yaml"))
    assert result.exit_code == 2
    assert "video.yaml:4:12: no value for {{ name }}" in result.stderr
    assert "render batch --data ROWS" in result.stderr


def test_files_already_stored_are_not_copied_again(
    alice: Account, folder: Path, tmp_path: Path
) -> None:
    first = apply_json(alice, folder / "video.yaml")
    assert first["stored_bytes"] > 0
    stored = objects(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    second = apply_json(alice, copy / "video.yaml", "--project", "second")
    assert second["applied"] is True and second["stored_bytes"] == 0
    assert objects(tmp_path) == stored
    assert summary(listed(alice, "second")) == summary(listed(alice))


def test_project_name_comes_from_option_then_spec_then_file(
    alice: Account, folder: Path
) -> None:
    (folder / "named.yaml").write_text("version: 1\nproject: Holiday 2026\ntimeline:\n"
                                       "  - media: intro.mp4\n", encoding="utf-8")
    assert apply_json(alice, folder / "named.yaml")["project"] == "Holiday 2026"
    assert apply_json(alice, folder / "named.yaml", "-p", "other")["project"] == "other"
    (folder / "plain.yaml").write_text("version: 1\ntimeline:\n  - media: intro.mp4\n",
                                       encoding="utf-8")
    assert apply_json(alice, folder / "plain.yaml")["project"] == "plain"


def test_another_users_project_of_the_same_name_is_not_touched(
    alice: Account, bob: Account, folder: Path
) -> None:
    bob.ok("apply", str(folder / "video.yaml"))
    bob_items = listed(bob)
    plan = apply_json(alice, folder / "video.yaml", "--dry-run")
    assert plan["create"] is True
    alice.ok("apply", str(folder / "video.yaml"))
    assert listed(bob) == bob_items
    assert {a["id"] for a in listed(alice)}.isdisjoint({a["id"] for a in bob_items})


@pytest.mark.slow
def test_render_submit_spec_applies_renders_and_an_unchanged_rerun_is_a_cache_hit(
    alice: Account, folder: Path, tmp_path: Path, monkeypatch
) -> None:
    from rendercli.services.specs import files

    out = tmp_path / "video.mp4"
    result = alice.ok("render", "submit", "--spec", str(folder / "video.yaml"), "--output",
                      str(out), "--json")
    job = json.loads(result.stdout)
    assert "applied to project video: 5 add" in result.stderr
    assert job["status"] == "completed" and job["cache_hit"] is False
    # The spec's output settings: 480p at 10 fps (the title 2 s + 3 s clip - 0.5 s fade + 2 s).
    assert (job["preset"], job["fps"], job["quality"]) == ("480p", 10, "draft")
    assert job["output_duration"] == pytest.approx(6.5, abs=0.11)
    assert out.read_bytes() == Path(job["output_path"]).read_bytes()
    # Unchanged: nothing applied, no file read to hash it again, the render from the cache.
    hashed: list[int] = []
    real_hash = files.hash_fd
    monkeypatch.setattr(files, "hash_fd", lambda fd: hashed.append(fd) or real_hash(fd))
    again = alice.ok("render", "submit", "--spec", str(folder / "video.yaml"), "--json")
    assert "no changes: project video matches the spec" in again.stderr
    second = json.loads(again.stdout)
    assert second["cache_hit"] is True and second["output_sha256"] == job["output_sha256"]
    assert hashed == []
    # ... and nothing probed again, nor a progress bar drawn for a log (CI).
    monkeypatch.setenv("RENDERCLI_TOKEN", alice.token)
    from tests.imports import modules_loaded_by

    assert modules_loaded_by(["render", "submit", "--spec", str(folder / "video.yaml")],
                             ["av", "rich.progress"]) == []
    # Options still win over the spec's output settings.
    third = json.loads(alice.ok("render", "submit", "--spec", str(folder / "video.yaml"),
                                "--fps", "5", "--json").stdout)
    assert third["fps"] == 5 and third["cache_hit"] is False


def test_render_submit_needs_a_project_or_a_spec(alice: Account) -> None:
    result = alice("render", "submit")
    assert result.exit_code == 2 and "give a PROJECT to render, or --spec FILE" in result.stderr


def comparable(items: list[dict]) -> list[dict]:
    """An item as a project holds it, without what differs between two equal projects."""
    skip = {"id", "project_id", "created_at", "updated_at"}
    out = []
    for item in items:
        kept = {k: v for k, v in item.items() if k not in skip}
        if kept.get("title"):
            kept["title"] = {k: v for k, v in kept["title"].items() if k != "font_id"}
        out.append(kept)
    return out


def texts_of(account: Account, items: list[dict]) -> list[list[dict]]:
    return [[{k: v for k, v in t.items() if k not in ("id", "asset_id", "created_at", "font_id")}
             for t in json.loads(account.ok("text", "list", a["id"], "--json").stdout)]
            for a in items if a["kind"] in ("video", "image", "title")]


def test_export_then_apply_recreates_an_equal_project(
    alice: Account, folder: Path, tmp_path: Path
) -> None:
    # A project made by hand with the CLI, using what the timeline supports.
    alice.ok("project", "create", "handmade")
    font = json.loads(alice.ok("asset", "add", "handmade", str(folder / "Brand.ttf"),
                               "--json").stdout)[0]
    clip = json.loads(alice.ok("asset", "add", "handmade", str(folder / "intro.mp4"),
                               "--trim-start", "0.5", "--trim-end", "3.5", "--volume", "-6dB",
                               "--transition", "wipeleft:0.4", "--fit", "blur",
                               "--json").stdout)[0]
    alice.ok("asset", "add", "handmade", str(folder / "photo.png"), "--duration", "2",
             "--motion", "pan-left", "--fade-out", "0.5")
    alice.ok("asset", "add", "handmade", str(folder / "intro.mp4"), "--mute")
    alice.ok("asset", "add", "handmade", str(folder / "song.mp3"), "--duck", "--fade-in", "1")
    alice.ok("title", "add", "handmade", "Literal {{ braces }} and 100%", "--position", "1",
             "--background", "#102030", "--font", font["id"], "--style", "outline",
             "--fade-in", "0.3")
    alice.ok("text", "add", clip["id"], "Lower third", "--at", "0.5", "--for", "1",
             "--placement", "top", "--color", "yellow", "--no-box", "--font", font["id"])
    alice.ok("text", "add", clip["id"], "Second line", "--style", "shadow", "--fade-in",
             "0.2", "--fade-out", "0.1")
    original = listed(alice, "handmade")

    spec = tmp_path / "out" / "handmade.yaml"
    spec.parent.mkdir()
    result = alice.ok("project", "export", "handmade", "-o", str(spec))
    assert result.stdout.startswith(f"Exported project handmade to {spec} and 4 files")
    assert sorted(p.name for p in (spec.parent / "handmade-media").iterdir()) == [
        "Brand.ttf", "intro.mp4", "photo.png", "song.mp3"]
    text = spec.read_text(encoding="utf-8")
    assert "Literal {{{{ braces }} and 100%" in text  # an escape, not a placeholder
    assert "style: outline" in text and "text_fade_in: 0.3" in text and "style: shadow" in text
    # Applied as another project: equal items, texts and settings.
    alice.ok("apply", str(spec), "--project", "copy")
    copy = listed(alice, "copy")
    for a, b in zip(comparable(copy), comparable(original), strict=True):
        assert {k: v for k, v in a.items() if b.get(k) != v} == {}, b["display_name"]
    assert comparable(copy) == comparable(original)
    assert texts_of(alice, copy) == texts_of(alice, original)
    # Applied to the project it came from: nothing differs.
    again = alice.ok("apply", str(spec), "--project", "handmade")
    assert again.stdout == "no changes: project handmade matches the spec\n"


def test_export_by_hash_applies_only_for_the_account_that_holds_the_content(
    alice: Account, bob: Account, folder: Path, tmp_path: Path
) -> None:
    alice.ok("apply", str(folder / "video.yaml"))
    spec = tmp_path / "by-hash.yaml"
    alice.ok("project", "export", "video", "-o", str(spec), "--by-hash")
    assert "media: sha256:" in spec.read_text() and not (tmp_path / "by-hash-media").exists()
    assert alice.ok("project", "export", "video", "-o", "-", "--by-hash").stdout == \
        spec.read_text()
    alice.ok("apply", str(spec), "--project", "again")
    assert comparable(listed(alice, "again")) == comparable(listed(alice))
    assert alice.ok("spec", "validate", str(spec)).exit_code == 0
    refused = bob("apply", str(spec))
    assert refused.exit_code == 2
    assert "no stored file with content sha256:" in refused.stderr
    assert bob("project", "show", "video").exit_code == 3


def test_export_refuses_before_writing_anything_when_a_media_file_exists(
    alice: Account, folder: Path, tmp_path: Path
) -> None:
    alice.ok("apply", str(folder / "video.yaml"))
    out = tmp_path / "out"
    (out / "video-media").mkdir(parents=True)
    (out / "video-media" / "song.mp3").write_bytes(b"mine")  # the last file exported
    result = alice("project", "export", "video", "-o", str(out / "video.yaml"))
    assert result.exit_code == 5
    assert "song.mp3 already exists" in result.stderr
    assert sorted(p.name for p in out.rglob("*")) == ["song.mp3", "video-media"]
    assert (out / "video-media" / "song.mp3").read_bytes() == b"mine"
    alice.ok("project", "export", "video", "-o", str(out / "video.yaml"), "--force")
    assert (out / "video-media" / "song.mp3").read_bytes() == (folder / "song.mp3").read_bytes()


def test_a_project_without_picture_items_is_not_exported(
    alice: Account, folder: Path, tmp_path: Path
) -> None:
    # A spec needs at least one timeline item: an export that apply refuses is no export.
    alice.ok("project", "create", "silent")
    alice.ok("asset", "add", "silent", str(folder / "song.mp3"))
    result = alice("project", "export", "silent", "-o", str(tmp_path / "silent.yaml"))
    assert result.exit_code == 2
    assert "no clips, stills or titles" in result.stderr
    assert not list(tmp_path.glob("silent*"))
