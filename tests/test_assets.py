"""Assets through the CLI on both databases: ingest, timeline order, trims, hostile files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Account
from tests.hostile_media import OpenWatch, hls_playlist, truncated_copy, write_bytes
from tests.media_factory import make_audio, make_image, make_video


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    return {
        "clip": make_video(d / "clip.mp4", duration=2.0),
        "other": make_video(d / "other.mp4", duration=1.0, tone=880),
        "portrait": make_video(d / "portrait.mp4", duration=1.0, size=(320, 240), rotate=90),
        "silent": make_video(d / "silent.mov", duration=1.0, audio=False),
        "still": make_image(d / "still.png", alpha=True),
        "photo": make_image(d / "photo.jpg"),
        "song": make_audio(d / "song.mp3", duration=2.0),
    }


def objects(storage: Path) -> list[Path]:
    root = storage / "objects"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "data" / "storage"


@pytest.fixture
def project(alice: Account) -> str:
    return json.loads(alice.ok("project", "create", "film", "--json").stdout)["id"]


def add(account: Account, project: str, *args: str | Path) -> list[dict]:
    return json.loads(account.ok("asset", "add", project, *map(str, args), "--json").stdout)


def test_add_probes_and_orders(alice: Account, project: str, media, storage: Path) -> None:
    added = add(alice, project, media["clip"], media["still"], media["song"], media["portrait"])
    assert [a["position"] for a in added] == [1, 2, 3, 4]
    clip, still, song, portrait = added
    assert clip["kind"] == "video" and clip["width"] == 320 and clip["height"] == 240
    assert clip["has_audio"] and clip["audio_codec"] == "aac" and clip["video_codec"] == "h264"
    assert abs(clip["duration"] - 2.0) < 0.1 and clip["container"] == "mp4"
    assert still["kind"] == "image" and still["timeline_duration"] == 3.0
    assert song["kind"] == "audio" and song["sample_rate"] == 44100
    assert portrait["rotation"] in (90, 270) and portrait["width"] < portrait["height"]
    assert len(clip["sha256"]) == 64 and clip["size_bytes"] == media["clip"].stat().st_size

    timeline = json.loads(alice.ok("asset", "list", "film", "--json").stdout)
    assert [a["display_name"] for a in timeline["assets"]] == [
        "clip.mp4",
        "still.png",
        "song.mp3",
        "portrait.mp4",
    ]
    # Audio lays under the picture; it does not lengthen the timeline.
    expected = clip["timeline_duration"] + 3.0 + portrait["timeline_duration"]
    assert timeline["total_duration"] == pytest.approx(expected, abs=1e-6)
    assert len(objects(storage)) == 4


def test_same_content_is_stored_once(alice: Account, project: str, media, storage, tmp_path):
    copy = shutil.copy(media["clip"], tmp_path / "copy of clip.mp4")
    first, second = add(alice, project, media["clip"], copy)
    assert first["sha256"] == second["sha256"]
    assert len(objects(storage)) == 1
    # Removing one keeps the file for the other; removing both deletes it.
    alice.ok("asset", "remove", first["id"])
    assert len(objects(storage)) == 1
    alice.ok("asset", "remove", second["id"])
    assert objects(storage) == []


def test_original_is_not_needed_after_add(alice: Account, project: str, media, tmp_path):
    src = Path(shutil.copy(media["other"], tmp_path / "temp.mp4"))
    [asset] = add(alice, project, src)
    src.unlink()
    shown = json.loads(alice.ok("asset", "show", asset["id"], "--json").stdout)
    assert shown["sha256"] == asset["sha256"]


def test_position_and_renumbering(alice: Account, project: str, media) -> None:
    a, b, c = add(alice, project, media["clip"], media["other"], media["photo"])
    [d] = add(alice, project, "--position", "2", media["still"])
    def order() -> list[str]:
        listed = json.loads(alice.ok("asset", "list", project, "--json").stdout)
        return [x["id"] for x in listed["assets"]]

    assert order() == [a["id"], d["id"], b["id"], c["id"]]
    alice.ok("asset", "update", c["id"], "--position", "1")
    assert order() == [c["id"], a["id"], d["id"], b["id"]]
    alice.ok("asset", "update", c["id"], "--position", "4")
    assert order() == [a["id"], d["id"], b["id"], c["id"]]
    alice.ok("asset", "remove", d["id"])
    listed = json.loads(alice.ok("asset", "list", project, "--json").stdout)["assets"]
    assert [x["position"] for x in listed] == [1, 2, 3]
    assert alice("asset", "update", a["id"], "--position", "9").exit_code == 2


def test_trims_and_durations(alice: Account, project: str, media) -> None:
    [clip] = add(alice, project, "--trim-start", "0.5", "--trim-end", "1.5", media["clip"])
    assert clip["trim_start"] == 0.5 and clip["trim_end"] == 1.5
    assert clip["timeline_duration"] == pytest.approx(1.0)
    [img] = add(alice, project, "--duration", "4.5", media["photo"])
    assert img["timeline_duration"] == 4.5
    updated = json.loads(
        alice.ok("asset", "update", clip["id"], "--trim-start", "1", "--json").stdout
    )
    assert updated["timeline_duration"] == pytest.approx(0.5)
    bad = alice("asset", "update", clip["id"], "--trim-end", "60")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: clip.mp4: --trim-end 60 is past the end")
    assert alice("asset", "update", img["id"], "--trim-start", "1").exit_code == 2
    assert alice("asset", "update", clip["id"], "--duration", "3").exit_code == 2
    past = alice("asset", "add", project, "--trim-start", "30", str(media["other"]))
    assert past.exit_code == 2 and "other.mp4" in past.stderr
    only_video = alice("asset", "add", project, "--duration", "2", str(media["clip"]))
    assert only_video.exit_code == 2 and "--duration applies to images" in only_video.stderr


def hostile_files(tmp: Path, media: dict[str, Path], canary: Path) -> dict[str, tuple[Path, str]]:
    folder = tmp / "a folder.mp4"
    folder.mkdir()
    return {
        "missing": (tmp / "gone.mp4", "gone.mp4: "),
        "directory": (folder, "a folder.mp4: "),
        "empty": (write_bytes(tmp / "empty.mp4", b""), "empty.mp4: "),
        "text": (write_bytes(tmp / "notes.mp4", b"just some text\n" * 50), "notes.mp4: "),
        "truncated": (truncated_copy(media["clip"], tmp / "half.mp4"), "half.mp4: "),
        "hls": (hls_playlist(tmp / "playlist.mp4", canary), "playlist.mp4: not a supported"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "truncated", "hls"])
def test_hostile_files_rejected_all_or_nothing(
    alice: Account, project: str, media, storage: Path, tmp_path: Path, case: str
) -> None:
    canary = shutil.copy(media["other"], tmp_path / "canary.ts")
    bad, reason = hostile_files(tmp_path, media, Path(canary))[case]
    with OpenWatch(Path(canary)) as watch:
        # A good file first: the whole command must still store nothing.
        result = alice("asset", "add", project, str(media["clip"]), str(bad))
        assert not watch.opened()
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {reason}"), result.stderr
    assert result.stderr.count("\n") == 1
    assert json.loads(alice.ok("asset", "list", project, "--json").stdout)["assets"] == []
    assert objects(storage) == []
    tmp_dir = storage / "tmp"
    assert not tmp_dir.exists() or [p for p in tmp_dir.iterdir()
                                    if p.name.startswith("stage-")] == []


def test_limits_are_configurable(alice: Account, project: str, media, monkeypatch) -> None:
    monkeypatch.setenv("RENDERCLI_MAX_DURATION", "1.5")
    result = alice("asset", "add", project, str(media["clip"]))
    assert result.exit_code == 2 and "clip.mp4" in result.stderr
    monkeypatch.setenv("RENDERCLI_MAX_FILE_SIZE", "1000")
    big = alice("asset", "add", project, str(media["other"]))
    assert big.exit_code == 2 and "other.mp4" in big.stderr


@pytest.mark.parametrize(
    "name", ["-starts-with-dash.mp4", "with 'quotes' and spaces.mp4", "new\nline.mp4"]
)
def test_awkward_names_are_data(alice: Account, project: str, media, tmp_path, name) -> None:
    path = Path(shutil.copy(media["other"], tmp_path / name))
    [asset] = json.loads(alice.ok("asset", "add", project, "--json", "--", str(path)).stdout)
    assert asset["kind"] == "video"
    assert "\n" not in asset["display_name"]


def test_non_utf8_name(alice: Account, project: str, media, tmp_path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.mp4"
    with open(raw, "wb") as fh:
        fh.write(media["other"].read_bytes())
    [asset] = add(alice, project, os.fsdecode(raw))
    assert asset["display_name"].startswith("caf") and asset["display_name"].endswith(".mp4")
    json.dumps(asset["display_name"]).encode("utf-8")  # printable, encodable


def test_another_users_assets_are_not_found(
    alice: Account, bob: Account, project: str, media
) -> None:
    [asset] = add(alice, project, media["photo"])
    for command in (
        ["asset", "show", asset["id"]],
        ["asset", "remove", asset["id"]],
        ["asset", "update", asset["id"], "--duration", "2"],
    ):
        theirs, missing = bob(*command), bob(*[*command[:2], "nope", *command[3:]])
        assert theirs.exit_code == missing.exit_code == 3
        assert theirs.stderr == f"error: asset not found: {asset['id']}\n"
    assert bob("asset", "list", project).exit_code == 3
    assert bob("asset", "add", project, str(media["clip"])).exit_code == 3
    assert len(json.loads(alice.ok("asset", "list", project, "--json").stdout)["assets"]) == 1


def test_deleting_a_project_deletes_its_files(alice: Account, project, media, storage):
    add(alice, project, media["clip"], media["song"])
    assert len(objects(storage)) == 2
    alice.ok("project", "delete", project, "--yes")
    assert objects(storage) == []


def test_piped_list_and_show(alice: Account, project: str, media) -> None:
    [clip] = add(alice, project, media["clip"])
    line = alice.ok("asset", "list", project).stdout.splitlines()[0].split("\t")
    assert line[:4] == ["1", clip["id"], "video", "clip.mp4"]
    shown = alice.ok("asset", "show", clip["id"]).stdout
    assert "sha256:" in shown and clip["sha256"] in shown


def test_trims_keep_at_least_one_frame(alice: Account, project: str, media) -> None:
    [clip] = add(alice, project, media["clip"])  # 2 s at 25 fps
    tiny = alice("asset", "update", clip["id"], "--trim-start", "1.99")
    assert tiny.exit_code == 2 and "shorter than one frame" in tiny.stderr
    alice.ok("asset", "update", clip["id"], "--trim-start", "1.96")
    nothing = alice("asset", "update", clip["id"])
    assert nothing.exit_code == 2 and "nothing to update" in nothing.stderr


def test_probed_facts_have_one_definition(alice: Account, project: str, media) -> None:
    """MediaInfo lists the probed facts; rows, views and `asset show` all follow it."""
    from dataclasses import fields

    from rendercli.db.models import Asset
    from rendercli.media.info import stored_fields
    from rendercli.services.assets import AssetView

    facts = [f.name for f in stored_fields()]
    assert set(facts) <= set(Asset.__table__.columns.keys())
    assert [f.name for f in fields(AssetView) if f.name in facts] == facts
    [clip] = add(alice, project, media["clip"])
    assert all(clip[name] is not None for name in facts)
    shown = dict(
        line.split(":", 1) for line in alice.ok("asset", "show", clip["id"]).stdout.splitlines()
    )
    shown = {key: value.strip() for key, value in shown.items()}
    assert shown["container"] == "mp4" and shown["video codec"] == "h264"
    assert shown["audio"] == "aac" and shown["sample rate"] == str(clip["sample_rate"])
    assert shown["frame rate"] == str(clip["frame_rate"]).removesuffix(".0")
    assert list(shown)[:8] == ["id", "position", "kind", "name", "timeline duration",
                               "source duration", "trim", "size"]
    # then the timeline settings a clip has, then the probed facts in MediaInfo's order
    assert list(shown)[8:15] == ["transition", "fade in", "fade out", "volume", "mute",
                                 "fit", "texts"]
    assert shown["fit"] == "default (the project's)"
    assert list(shown)[15:] == ["frame rate", "rotation", "container", "video codec",
                                "pixel format", "audio", "sample rate", "channels", "bytes",
                                "sha256", "added"]


def test_a_file_another_account_shares_is_kept(alice: Account, bob: Account, project, media,
                                                storage) -> None:
    """Bob cannot see alice's assets (row security on PostgreSQL), yet removing his copy of
    a file she also added must not delete the stored object her asset uses."""
    [mine] = add(alice, project, media["clip"])
    theirs = json.loads(bob.ok("project", "create", "b", "--json").stdout)["id"]
    [copy] = add(bob, theirs, media["clip"])
    assert copy["sha256"] == mine["sha256"] and len(objects(storage)) == 1
    bob.ok("asset", "remove", copy["id"])
    bob.ok("project", "delete", theirs, "--yes")
    assert len(objects(storage)) == 1
    alice.ok("render", "submit", project)  # her timeline still renders


def test_plain_sql_items_match_the_orm(
    alice: Account, project: str, media, database_url: str, sessions, tmp_path: Path
) -> None:
    """`read_items` (plain SQL: `asset list`, `render frame`, the timeline check) reads
    every column of the model, and gives the same views and the same engine timeline as
    the ORM rows on both databases: fonts, titles, texts, booleans and timestamps."""
    from rendercli.db.models import Asset, AssetText, AssetTitle
    from rendercli.repositories import items
    from rendercli.services.items import asset_view
    from rendercli.services.renders.timeline import timeline_items
    from rendercli.services.unit_of_work import UnitOfWork

    assert sorted(items.ASSET_COLUMNS) == sorted(Asset.__table__.columns.keys())
    assert set(items.TITLE_COLUMNS) < set(AssetTitle.__table__.columns.keys())
    assert set(items.TEXT_COLUMNS) == set(AssetText.__table__.columns.keys())
    font = tmp_path / "Brand Sans.ttf"
    shutil.copy(Path(items.__file__).parents[1] / "render" / "fonts" / "NotoSans-Bold.ttf",
                font)
    clip, still, song, _font = add(alice, project, media["clip"], media["still"],
                                   media["song"], font)
    alice.ok("asset", "update", clip["id"], "--fade-in", "0.5", "--mute")
    alice.ok("asset", "update", song["id"], "--duck")
    alice.ok("title", "add", project, "Hi", "--font", "Brand Sans.ttf", "--position", "1")
    alice.ok("text", "add", still["id"], "One", "--no-box", "--font", "Brand Sans.ttf")
    alice.ok("text", "add", still["id"], "Two")
    def shape(row) -> tuple:  # type: ignore[no-untyped-def]
        card = row.title
        return ({c: getattr(row, c) for c in items.ASSET_COLUMNS},
                None if card is None else {c: getattr(card, c) for c in items.TITLE_COLUMNS},
                [{c: getattr(t, c) for c in items.TEXT_COLUMNS} for t in row.texts])

    from sqlalchemy import select

    with sessions() as session, UnitOfWork(sessions.url) as uow:
        orm = sorted(session.scalars(select(Asset).where(Asset.project_id == project)),
                     key=lambda a: (a.position is None, a.position or 0))
        orm_timeline = timeline_items(orm, uow.settings)
        plain = items.read_items(uow.rows, project)
        assert [shape(a) for a in plain] == [shape(a) for a in orm]
        assert timeline_items(plain, uow.settings) == orm_timeline
    views = {v.id: v for v in map(asset_view, plain)}
    assert views[clip["id"]].mute is True and views[song["id"]].duck is True
    assert views[still["id"]].text_count == 2 and views[plain[0].id].title is not None
    assert [t.box for t in plain[2].texts] == [False, True]
    assert plain[2].texts[0].created_at.tzinfo is not None


def test_several_timelines_are_read_in_three_statements(
    alice: Account, project: str, media, sessions
) -> None:
    """`read_items_of` (a batch's chunk) reads any number of projects in the same three
    statements as one, and gives each project what `read_items` gives it."""
    from dataclasses import asdict

    from rendercli.repositories.items import read_items, read_items_of
    from rendercli.services.items import asset_view
    from rendercli.services.unit_of_work import UnitOfWork

    _clip, still = add(alice, project, media["clip"], media["still"])
    alice.ok("text", "add", still["id"], "Hello")
    other = json.loads(alice.ok("project", "create", "other", "--json").stdout)["id"]
    alice.ok("title", "add", other, "Card")
    add(alice, other, media["song"])

    class Counted:
        def __init__(self, rows) -> None:  # type: ignore[no-untyped-def]
            self.rows, self.postgres, self.statements = rows, rows.postgres, 0

        def all(self, sql: str, **params: object) -> list[dict]:
            self.statements += 1
            return self.rows.all(sql, **params)

    with UnitOfWork(sessions.url) as uow:
        counted = Counted(uow.rows)
        both = read_items_of(counted, [project, other, "nosuchproject"])  # type: ignore[arg-type]
        assert counted.statements == 3
        assert both["nosuchproject"] == []
        for pid, kinds in ((project, ["video", "image"]), (other, ["title", "audio"])):
            assert [i.kind for i in both[pid]] == kinds
            one = read_items(uow.rows, pid)
            assert [asdict(asset_view(i)) for i in both[pid]] == [
                asdict(asset_view(i)) for i in one]
        assert [t.text for t in both[project][1].texts] == ["Hello"]
        assert both[other][0].title is not None and both[other][0].title.text == "Card"
