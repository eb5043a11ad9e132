"""Timeline effects through the CLI on both databases: per-item transitions, fades,
sound and motion (`asset add/update`), title cards (`title`), text overlays (`text`),
fonts as assets, `render submit --loudness`, and real renders of all of it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rendercli.db.models import Asset, AssetText, AssetTitle, RenderJob
from rendercli.render.text import DEFAULT_FONT
from tests.conftest import Account
from tests.hostile_media import font_with_garbage_glyf, font_without_maxp, write_bytes
from tests.media_factory import make_audio, make_color_video, make_image, make_video
from tests.orm import get_session_factory
from tests.system_fonts import need_fonts_for
from tests.test_render_effects import integrated_loudness
from tests.test_render_engine import probe

FAST = ["--preset", "480p", "--fps", "10", "--quality", "draft"]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("timeline-media")
    font = d / "Brand Sans.ttf"
    shutil.copy(DEFAULT_FONT, font)
    return {
        "clip": make_video(d / "clip.mp4", duration=2.0, tone=440),
        "red": make_color_video(d / "red.mp4", colors=("red",), seconds_each=1.0),
        "still": make_image(d / "still.png"),
        "song": make_audio(d / "song.mp3", duration=4.0, tone=660),
        "font": font,
    }


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "data" / "storage"


def objects(storage: Path) -> list[Path]:
    root = storage / "objects"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def project(alice: Account) -> str:
    alice.ok("project", "create", "film")
    return "film"


def add(account: Account, *args: str | Path) -> list[dict]:
    return json.loads(account.ok("asset", "add", *map(str, args), "--json").stdout)


def listed(account: Account, project: str = "film") -> dict:
    return json.loads(account.ok("asset", "list", project, "--json").stdout)


def rows(url: str, model: type) -> int:
    with get_session_factory(url)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def shown(account: Account, asset_id: str) -> dict[str, str]:
    lines = account.ok("asset", "show", asset_id).stdout.splitlines()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines)}


# --------------------------------------------------------------------------- asset options


def test_effect_options_are_stored_and_shown(alice: Account, project: str, media) -> None:
    [clip] = add(alice, project, media["clip"], "--transition", "fade:0.5", "--volume", "-6dB",
                 "--fade-in", "0.2", "--fade-out", "0.3", "--mute")
    assert (clip["transition"], clip["transition_seconds"]) == ("fade", 0.5)
    assert clip["volume"] == pytest.approx(0.501187, abs=1e-6) and clip["mute"] is True
    assert (clip["fade_in"], clip["fade_out"]) == (0.2, 0.3)
    # a bare kind is 1 s long; options apply to the files they fit (--motion: the still)
    still, song = add(alice, project, media["still"], media["song"], "--transition",
                      "wipeleft", "--motion", "zoom-in", "--duration", "2")
    assert (still["transition"], still["transition_seconds"], still["motion"]) == (
        "wipeleft", 1.0, "zoom-in")
    assert song["transition"] == "none" and song["motion"] is None
    alice.ok("asset", "update", song["id"], "--duck", "--volume", "0.5", "--fade-out", "1.5")

    timeline = listed(alice)
    by_id = {a["id"]: a for a in timeline["assets"]}
    assert by_id[song["id"]]["duck"] is True and by_id[song["id"]]["volume"] == 0.5
    # transitions overlap their items: 2 + 2 - 0.5 s (the still's is the last one's: unused)
    assert timeline["total_duration"] == pytest.approx(2.0 + 2.0 - 0.5, abs=0.02)

    show = shown(alice, clip["id"])
    # decibels as written (issue 23), the gain beside them
    assert show["transition"] == "fade 0.5s" and show["volume"] == "-6dB (gain 0.501)"
    assert show["mute"] == "yes" and show["fade in"] == "0.20s"
    assert shown(alice, still["id"])["motion"] == "zoom-in"
    assert shown(alice, song["id"])["duck"] == "yes"
    # piped list: the TRANSITION and EFFECTS columns
    lines = [line.split("\t") for line in alice.ok("asset", "list", project).stdout.splitlines()]
    assert lines[0][8:] == ["fade 0.5s", "fade in 0.2s, fade out 0.3s, volume -6dB, muted"]
    assert lines[1][8:] == ["wipeleft 1s", "zoom-in"]
    assert lines[2][8:] == ["-", "fade out 1.5s, volume 0.5, ducked"]

    # undo each of them
    undone = json.loads(alice.ok("asset", "update", clip["id"], "--transition", "none",
                                 "--no-mute", "--volume", "1", "--fade-in", "0",
                                 "--json").stdout)
    assert (undone["transition"], undone["transition_seconds"], undone["mute"]) == (
        "none", 0.0, False)
    assert undone["volume"] == 1.0 and undone["fade_in"] == 0.0 and undone["fade_out"] == 0.3
    alice.ok("asset", "update", still["id"], "--motion", "none")
    alice.ok("asset", "update", song["id"], "--no-duck")
    after = {a["id"]: a for a in listed(alice)["assets"]}
    assert after[still["id"]]["motion"] is None and after[song["id"]]["duck"] is False


@pytest.mark.parametrize(("args", "reason"), [
    (["--transition", "spin"], "unknown transition 'spin'"),
    (["--transition", "fade:abc"], "expected KIND:SECONDS"),
    (["--transition", "fade:0"], "needs a length above 0 seconds"),
    (["--transition", "fade:61"], "longer than 60 s"),
    (["--transition", "fade:1.5", "--position", "1"], "longer than an item it joins"),
    (["--volume", "5"], "volume must be from 0 to 4"),
    (["--volume", "13dB"], "volume must be from 0 to 4"),
    (["--volume", "loud"], "invalid volume 'loud'"),
    (["--motion", "spin"], "unknown --motion 'spin'"),
    (["--motion", "zoom-in"], "--motion applies to still images"),
    (["--duck"], "--duck applies to music"),
    (["--fade-in", "1.5", "--fade-out", "1"], "together exceed the item's 2 s"),
    (["--fade-in", "-1"], "--fade-in"),
])
def test_bad_values_exit_2_and_create_nothing(
        alice: Account, project: str, media, storage: Path, database_url: str,
        args: list[str], reason: str) -> None:
    [still] = add(alice, project, media["still"], "--duration", "1")
    before = objects(storage)
    result = alice("asset", "add", project, str(media["clip"]), *args)
    assert result.exit_code == 2, result.stdout
    assert reason in result.stderr and result.stderr.count("\n") == 1
    assert [a["id"] for a in listed(alice)["assets"]] == [still["id"]]
    assert objects(storage) == before
    assert rows(database_url, Asset) == 1


def test_settings_that_do_not_fit_the_item_are_refused(
        alice: Account, project: str, media) -> None:
    clip, still, song = add(alice, project, media["clip"], media["still"], media["song"])
    for asset, args, reason in [
        (clip, ["--motion", "pan-left"], "--motion applies to still images, not to a video"),
        (clip, ["--duck"], "--duck applies to music (audio items), not to a video"),
        (still, ["--volume", "0.5"], "--volume applies to clips and music, not to an image"),
        (still, ["--mute"], "--mute applies to clips and music"),
        (song, ["--transition", "fade"], "--transition applies to picture items (video, "
                                         "images, titles), not to an audio item"),
        (song, ["--duration", "2"], "--duration applies to images and titles"),
    ]:
        result = alice("asset", "update", asset["id"], *args)
        assert result.exit_code == 2 and reason in result.stderr, (args, result.stderr)
    unchanged = {a["id"]: a for a in listed(alice)["assets"]}
    assert unchanged[clip["id"]]["motion"] is None and unchanged[song["id"]]["duck"] is False


def test_a_transition_must_fit_both_neighbours(
        alice: Account, project: str, media, database_url: str) -> None:
    clip, still = add(alice, project, media["clip"], media["still"], "--duration", "1")
    # longer than the still it leads into
    bad = alice("asset", "update", clip["id"], "--transition", "fade:1.5")
    assert bad.exit_code == 2
    assert bad.stderr == ("error: timeline item 1 (clip.mp4): the fade transition (1.5 s) "
                          "is longer than an item it joins\n")
    alice.ok("asset", "update", clip["id"], "--transition", "fade:0.8")
    # the neighbour may not shrink under it either, nor move away to a shorter one
    shrink = alice("asset", "update", still["id"], "--duration", "0.5")
    assert shrink.exit_code == 2 and "longer than an item it joins" in shrink.stderr
    trim = alice("asset", "update", clip["id"], "--trim-start", "1.5")
    assert trim.exit_code == 2 and "longer than an item it joins" in trim.stderr
    # an item's two transitions may not overlap each other
    alice.ok("asset", "update", still["id"], "--duration", "1.2")
    [red] = add(alice, project, media["red"])
    both = alice("asset", "update", still["id"], "--transition", "fade:0.5")
    assert both.exit_code == 2 and "overlap each other" in both.stderr
    assert {a["id"]: a["transition"] for a in listed(alice)["assets"]} == {
        clip["id"]: "fade", still["id"]: "none", red["id"]: "none"}
    # checked again at submit, on the frame grid: 0.15 s + 0.15 s fit 0.3 s in seconds,
    # but at 10 fps each is 2 frames and the item has 3
    alice.ok("asset", "update", clip["id"], "--transition", "fade:0.15")
    alice.ok("asset", "update", still["id"], "--duration", "0.3", "--transition", "fade:0.15")
    jobs = rows(database_url, RenderJob)
    submit = alice("render", "submit", project, *FAST)
    assert submit.exit_code == 2 and "(still.png): its transitions (2 + 2 frames)" in submit.stderr
    assert rows(database_url, RenderJob) == jobs


def test_loudness_is_validated_before_a_job_exists(
        alice: Account, project: str, media, database_url: str) -> None:
    add(alice, project, media["still"], "--duration", "1")
    for value in ("3", "-80", "nan"):
        result = alice("render", "submit", project, *FAST, "--loudness", value)
        assert result.exit_code == 2 and "loudness" in result.stderr, result.stderr
    assert rows(database_url, RenderJob) == 0


# --------------------------------------------------------------------------- titles


HOSTILE = "Quotes ' \" and 100% %{pts} : ; \\ {} [in]\nLine two: 😀 עברית"



def test_title_add_update_remove(alice: Account, project: str, media, database_url) -> None:
    need_fonts_for(HOSTILE)
    [clip] = add(alice, project, media["clip"])
    title = json.loads(alice.ok("title", "add", project, HOSTILE, "--duration", "1.5",
                                "--position", "1", "--background", "navy", "--color",
                                "#FFD700", "--size", "medium", "--json").stdout)
    assert title["kind"] == "title" and title["position"] == 1
    assert title["timeline_duration"] == 1.5 and title["sha256"] is None
    assert title["title"] == {"text": HOSTILE, "background": "navy", "color": "#FFD700",
                              "size": "medium", "font_id": None, "font_face": 0,
                              "fade_in": 0.0, "fade_out": 0.0, "style": "none"}
    assert "\n" not in title["display_name"] and title["display_name"].startswith("Quotes")
    timeline = listed(alice)
    assert [(a["kind"], a["position"]) for a in timeline["assets"]] == [
        ("title", 1), ("video", 2)]
    assert timeline["total_duration"] == pytest.approx(3.5, abs=0.02)
    piped = alice.ok("asset", "list", project).stdout.splitlines()[0].split("\t")
    assert piped[2] == "title"

    updated = json.loads(alice.ok("title", "update", title["id"], "The End", "--color",
                                  "white", "--position", "2", "--json").stdout)
    assert updated["title"]["text"] == "The End" and updated["display_name"] == "The End"
    assert updated["title"]["background"] == "navy" and updated["position"] == 2
    # like any item: transitions, fades, place
    alice.ok("asset", "update", title["id"], "--fade-out", "0.5", "--duration", "2",
             "--position", "1", "--transition", "fadeblack:0.5")
    show = shown(alice, title["id"])
    assert show["text"] == "The End" and show["transition"] == "fadeblack 0.5s"
    assert show["timeline duration"] == "2.00s" and show["fade out"] == "0.50s"
    assert "sha256" not in show and "container" not in show
    for args, reason in [
        (["--trim-start", "1"], "--trim-start applies to video and audio, not to a title"),
        (["--volume", "2"], "--volume applies to clips and music"),
    ]:
        result = alice("asset", "update", title["id"], *args)
        assert result.exit_code == 2 and reason in result.stderr

    for args, reason in [
        (["   "], "text must not be empty"),
        (["x" * 2001], "at most 2000 are allowed"),
        (["ok", "--background", "plaid"], "--background: invalid colour 'plaid'"),
        (["ok", "--size", "huge"], "unknown --size 'huge'"),
        (["ok", "--duration", "0"], "--duration must be more than 0"),
        (["ok", "--position", "9"], "--position must be between 1 and 3"),
        (["ok", "--font", "nope.ttf"], "font not found in this project: nope.ttf"),
    ]:
        result = alice("title", "add", project, *args)
        assert result.exit_code in (2, 3) and reason in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1
    assert rows(database_url, AssetTitle) == 1 and rows(database_url, Asset) == 2

    not_title = alice("title", "update", clip["id"], "Hi")
    assert not_title.exit_code == 2 and "not a title" in not_title.stderr
    assert alice("title", "update", title["id"]).exit_code == 2  # nothing to update
    long_text = "wrap " * 400
    assert len(json.loads(alice.ok("title", "update", title["id"], long_text[:2000],
                                   "--json").stdout)["title"]["text"]) == 2000
    removed = json.loads(alice.ok("asset", "remove", title["id"], "--json").stdout)
    assert removed["kind"] == "title"
    assert [a["position"] for a in listed(alice)["assets"]] == [1]
    assert rows(database_url, AssetTitle) == 0


# --------------------------------------------------------------------------- texts


def test_text_add_list_remove(alice: Account, project: str, media, database_url) -> None:
    need_fonts_for(HOSTILE)
    clip, song = add(alice, project, media["clip"], media["song"])
    first = json.loads(alice.ok("text", "add", clip["id"], "Ana Lima, director", "--at", "0.5",
                                "--for", "1", "--json").stdout)
    second = json.loads(alice.ok("text", "add", clip["id"], HOSTILE, "--placement", "top",
                                 "--size", "large", "--color", "gold", "--no-box",
                                 "--json").stdout)
    assert (first["position"], first["start"], first["duration"], first["placement"]) == (
        1, 0.5, 1.0, "lower-third")
    assert second["text"] == HOSTILE and second["box"] is False and second["duration"] is None
    texts = json.loads(alice.ok("text", "list", clip["id"], "--json").stdout)
    assert [t["id"] for t in texts] == [first["id"], second["id"]]
    piped = alice.ok("text", "list", clip["id"]).stdout.splitlines()
    assert piped[0].split("\t")[2:4] == ["0.5s-1.5s", "lower-third"]
    assert len(piped) == 2  # the newline in the text does not split the row
    assert listed(alice)["assets"][0]["text_count"] == 2
    assert shown(alice, clip["id"])["texts"] == "2"

    for target, args, reason in [
        (clip["id"], ["late", "--at", "2.5"], "starts at 2.5 s, after the item's 2 s"),
        (clip["id"], ["x", "--placement", "bottom"], "unknown --placement 'bottom'"),
        (clip["id"], ["x", "--color", "plaid"], "--color: invalid colour"),
        (clip["id"], ["x", "--for", "0"], "--for must be more than 0"),
        (clip["id"], [""], "text must not be empty"),
        (song["id"], ["x"], "text is drawn over picture items"),
    ]:
        result = alice("text", "add", target, *args)
        assert result.exit_code == 2 and reason in result.stderr, (args, result.stderr)
    assert rows(database_url, AssetText) == 2

    removed = json.loads(alice.ok("text", "remove", first["id"], "--json").stdout)
    assert removed["id"] == first["id"]
    [left] = json.loads(alice.ok("text", "list", clip["id"], "--json").stdout)
    assert left["id"] == second["id"] and left["position"] == 1
    assert alice("text", "remove", first["id"]).exit_code == 3
    # texts go with their item
    alice.ok("asset", "remove", clip["id"])
    assert rows(database_url, AssetText) == 0


# --------------------------------------------------------------------------- fonts


def test_fonts_are_assets_off_the_timeline(
        alice: Account, project: str, media, storage: Path, tmp_path: Path) -> None:
    clip, font = add(alice, project, media["clip"], media["font"])
    assert font["kind"] == "font" and font["position"] is None and font["container"] == "ttf"
    assert font["display_name"] == "Brand Sans.ttf" and font["size_bytes"] > 100_000
    assert clip["position"] == 1
    timeline = listed(alice)
    assert [a["kind"] for a in timeline["assets"]] == ["video", "font"]
    assert timeline["total_duration"] == pytest.approx(clip["timeline_duration"])
    # another item still goes to position 2: fonts take no place
    [still] = add(alice, project, media["still"])
    assert still["position"] == 2

    by_name = json.loads(alice.ok("title", "add", project, "Hello", "--font",
                                  "Brand Sans.ttf", "--json").stdout)
    assert by_name["title"]["font_id"] == font["id"]
    text = json.loads(alice.ok("text", "add", clip["id"], "Hi", "--font", font["id"],
                               "--json").stdout)
    assert text["font_id"] == font["id"]
    in_use = alice("asset", "remove", font["id"])
    assert in_use.exit_code == 5
    assert "font Brand Sans.ttf is used by 1 title(s) and 1 text(s)" in in_use.stderr
    for args, reason in [
        (["--fade-in", "1"], "fonts are not on the timeline; --fade-in does not apply"),
        (["--position", "1"], "fonts are not on the timeline; they have no position"),
    ]:
        result = alice("asset", "update", font["id"], *args)
        assert result.exit_code == 2 and reason in result.stderr, result.stderr

    # a font of another project of the same user is not this project's
    alice.ok("project", "create", "other")
    [other_font] = add(alice, "other", media["font"])
    foreign = alice("title", "update", by_name["id"], "--font", other_font["id"])
    assert foreign.exit_code == 3 and "font not found in this project" in foreign.stderr

    alice.ok("title", "update", by_name["id"], "--font", "default")
    alice.ok("text", "remove", text["id"])
    alice.ok("asset", "remove", font["id"])
    assert [a["kind"] for a in listed(alice)["assets"]] == ["video", "image", "title"]
    assert len(objects(storage)) == 3  # clip, still, and the other project's font


def test_hostile_font_files_are_rejected(
        alice: Account, project: str, media, storage: Path, tmp_path: Path) -> None:
    real = media["font"].read_bytes()
    cases = {
        "garbage.ttf": (b"\x00\x01\x00\x00\x00\x04" + b"\xff" * 4000, "not a usable TTF/OTF"),
        "truncated.ttf": (real[:3000], "not a usable TTF/OTF"),
        # a collection header naming one face past the end of the file
        "fonts.ttc": (b"ttcf\x00\x01\x00\x00\x00\x00\x00\x01\x7f\xff\xff\xff" + real[16:],
                      "not a usable TTC/OTC font collection (face 0 starts past the end"),
        "many.ttc": (b"ttcf\x00\x01\x00\x00\x00\x01\x00\x00" + real[12:],
                     "65536 faces (at most 64 allowed)"),
        # the same signature, padded past the 48 MiB limit for fonts
        "huge.otf": (b"OTTO\x00\x04" + b"\x00" * (49 * 2**20), "above the 50.3 MB limit"),
        # a QuickTime file whose first atom is 65,536 bytes long starts like a TrueType
        # font: it goes to the media probe (and its allow-list), not the font parser
        "atom.mov": (b"\x00\x01\x00\x00ftypqt  " + b"\x00" * 4000, "not a supported media"),
    }
    for name, (data, reason) in cases.items():
        path = write_bytes(tmp_path / name, data)
        result = alice("asset", "add", project, str(media["clip"]), str(path))
        assert result.exit_code == 2, name
        assert result.stderr.startswith(f"error: {name}: ") and reason in result.stderr, (
            result.stderr)
    assert listed(alice)["assets"] == [] and objects(storage) == []


def test_fonts_freetype_cannot_load_are_rejected_at_add(
        alice: Account, project: str, media, storage: Path, tmp_path: Path) -> None:
    """Our table reader accepts these (the metrics are intact); FreeType does not. They
    are refused when added, with one line, not at render time with an ffmpeg message."""
    from rendercli.render.text import parse_font

    cases = {
        "nomaxp.ttf": font_without_maxp(media["font"], tmp_path / "nomaxp.ttf"),
        "badglyf.ttf": font_with_garbage_glyf(media["font"], tmp_path / "badglyf.ttf"),
    }
    for name, path in cases.items():
        parse_font(path.read_bytes())  # the metrics reader alone would let it in
        result = alice("asset", "add", project, str(path))
        assert result.exit_code == 2, (name, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"error: font {name} cannot be loaded by FreeType: "), (
            result.stderr)
    assert listed(alice)["assets"] == [] and objects(storage) == []
    # The real font still goes in (and is drawn by the same check).
    [font] = add(alice, project, media["font"])
    assert font["kind"] == "font"


def test_overlapping_cmap_groups_are_refused() -> None:
    """A font built to make the metrics reader loop over all of Unicode many times."""
    import struct

    from rendercli.render.text import parse_font

    data = bytearray(DEFAULT_FONT.read_bytes())
    (count,) = struct.unpack_from(">H", data, 4)
    tables = {bytes(data[12 + 16 * n: 16 + 16 * n]): struct.unpack_from(
        ">II", data, 20 + 16 * n) for n in range(count)}
    groups = 40
    sub = struct.pack(">HHIII", 12, 0, 16 + 12 * groups, 0, groups) + b"".join(
        struct.pack(">III", 0, 0x10FFFF, 1) for _ in range(groups))
    cmap = struct.pack(">HHHHI", 0, 1, 3, 10, 12) + sub
    offset = len(data)
    data += cmap
    n = list(tables).index(b"cmap")
    struct.pack_into(">II", data, 20 + 16 * n, offset, len(cmap))
    with pytest.raises(ValueError, match="overlapping groups"):
        parse_font(bytes(data))


# --------------------------------------------------------------------------- ownership


def test_another_users_items_are_not_found(
        alice: Account, bob: Account, project: str, media) -> None:
    clip, font = add(alice, project, media["clip"], media["font"])
    title = json.loads(alice.ok("title", "add", project, "Mine", "--json").stdout)
    text = json.loads(alice.ok("text", "add", clip["id"], "Mine", "--json").stdout)
    bob.ok("project", "create", "film")
    attempts = [
        (["title", "update", title["id"], "Yours"], f"title not found: {title['id']}"),
        (["title", "add", project, "x"], None),  # bob's own "film": fine, not alice's
        (["asset", "update", clip["id"], "--transition", "fade"], "asset not found"),
        (["asset", "remove", title["id"]], "asset not found"),
        (["text", "add", clip["id"], "x"], "asset not found"),
        (["text", "list", clip["id"]], "asset not found"),
        (["text", "remove", text["id"]], f"text not found: {text['id']}"),
        (["title", "add", "film", "x", "--font", font["id"]], "font not found"),
    ]
    for args, reason in attempts:
        result = bob(*args)
        if reason is None:
            assert result.exit_code == 0 and json.loads(
                bob.ok("asset", "list", "film", "--json").stdout)["assets"][0]["kind"] == "title"
            continue
        assert result.exit_code == 3 and reason in result.stderr, (args, result.stderr)
    # nothing of alice's changed
    mine = listed(alice)["assets"]
    assert [a["kind"] for a in mine] == ["video", "title", "font"]
    assert mine[0]["transition"] == "none" and mine[0]["text_count"] == 1
    assert mine[1]["title"]["text"] == "Mine"


# --------------------------------------------------------------------------- migration


def test_migration_adds_the_settings_to_existing_assets(
        database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from rendercli.db.engines import dispose_all, get_engine
    from rendercli.db.schema import HEAD_REVISION, current_revision, downgrade, upgrade

    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'old.db'}"
        drop = None
    else:
        server = request.getfixturevalue("postgres")
        url = server.create_database(from_template=False)
        drop = server
    try:
        engine = get_engine(url)
        upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (id, email, password_hash, created_at) "
                "VALUES ('u', 'u@example.com', 'x', CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO projects (id, owner_id, name, created_at, updated_at) "
                "VALUES ('p', 'u', 'p', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO assets (id, project_id, position, kind, display_name, sha256, "
                "storage_key, size_bytes, container, rotation, has_audio, created_at, "
                "updated_at) VALUES ('a', 'p', 1, 'video', 'v.mp4', :sha, :sha, 1, 'mp4', 0, "
                "false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"sha": "a" * 64})
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
        with get_session_factory(url)() as session:
            asset = session.get(Asset, "a")
            assert asset is not None
            assert (asset.transition, asset.transition_seconds, asset.fade_in, asset.fade_out,
                    asset.volume, asset.mute, asset.duck, asset.motion) == (
                "none", 0.0, 0.0, 0.0, 1.0, False, False, None)
        # the database itself keeps fonts off the timeline and titles without files
        for values in ("'f', 'p', 2, 'font', 'k'", "'t', 'p', NULL, 'title', NULL",
                       "'x', 'p', 3, 'bogus', 'k'"):
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO assets (id, project_id, position, kind, storage_key, "
                    "display_name, rotation, has_audio, transition, transition_seconds, "
                    "fade_in, fade_out, volume, mute, duck, created_at, updated_at) VALUES ("
                    + values + ", 'n', 0, false, 'none', 0, 0, 0, 1, false, false, "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        # Down to 0002 (tenancy) with a title, a font and a text in place: those go, the
        # clip stays; on PostgreSQL the policies and the asset-ids function go too.
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO assets (id, project_id, position, kind, storage_key, sha256, "
                "display_name, rotation, has_audio, transition, transition_seconds, fade_in, "
                "fade_out, volume, mute, duck, created_at, updated_at) VALUES "
                "('t', 'p', 2, 'title', NULL, NULL, 'T', 0, false, 'none', 0, 0, 0, 1, "
                "false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
                "('f', 'p', NULL, 'font', :sha, :sha, 'f.ttf', 0, false, 'none', 0, 0, 0, 1, "
                "false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"sha": "b" * 64})
            conn.execute(text(
                "INSERT INTO asset_titles (asset_id, text, background, color, size, font_id) "
                "VALUES ('t', 'T', 'black', 'white', 'large', 'f')"))
            conn.execute(text(
                "INSERT INTO asset_texts (id, asset_id, position, text, start, placement, "
                "size, color, box, font_id, created_at) VALUES ('x', 'a', 1, 'hi', 0, "
                "'center', 'small', 'white', false, 'f', CURRENT_TIMESTAMP)"))
        downgrade(engine, "0002")
        assert current_revision(engine) == "0002"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM assets")).scalars().all() == ["a"]
            if engine.dialect.name == "postgresql":
                assert conn.execute(text(
                    "SELECT count(*) FROM pg_proc WHERE proname = 'rendercli_my_asset_ids'"
                )).scalar() == 0
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        dispose_all()
        if drop is not None:
            drop.drop_url(url)


# --------------------------------------------------------------------------- renders


@pytest.mark.slow
def test_a_project_using_every_option_renders_exactly(
        alice: Account, project: str, media, tmp_path: Path) -> None:
    fps = 10
    font = add(alice, project, media["font"])[0]
    opening = json.loads(alice.ok("title", "add", project, "Opening", "--duration", "1",
                                  "--background", "navy", "--font", font["id"],
                                  "--json").stdout)
    alice.ok("asset", "update", opening["id"], "--transition", "fade:0.5", "--fade-in", "0.3")
    clip, still, red = add(alice, project, media["clip"], media["still"], media["red"],
                           "--duration", "1.5")
    alice.ok("asset", "update", clip["id"], "--transition", "crossfade:0.4", "--volume",
             "-3dB", "--fade-out", "0.5")
    alice.ok("asset", "update", still["id"], "--motion", "zoom-in", "--transition", "wipeleft:0.3")
    alice.ok("text", "add", clip["id"], "Ana Lima — director", "--at", "0.2", "--for", "1",
             "--font", "Brand Sans.ttf")
    alice.ok("text", "add", red["id"], "50% off: {today} \\ 'now'", "--placement", "center")
    end = json.loads(alice.ok("title", "add", project, "The End", "--duration", "1",
                              "--json").stdout)
    alice.ok("asset", "update", end["id"], "--fade-out", "0.5")
    add(alice, project, media["song"], "--duck", "--fade-in", "0.5", "--volume", "0.8")

    durations = [1.0, 2.0, 1.5, 1.0, 1.0]  # opening, clip, still, red, end
    overlaps = [0.5, 0.4, 0.3]
    expected = sum(round(d * fps) for d in durations) - sum(round(t * fps) for t in overlaps)
    job = json.loads(alice.ok("render", "submit", project, *FAST, "--loudness", "-16",
                              "--json").stdout)
    assert job["status"] == "completed" and job["loudness"] == -16.0
    measured_i = integrated_loudness(Path(job["output_path"]))
    assert job["loudness_lufs"] == pytest.approx(measured_i, abs=0.11)  # as ebur128 reads it
    assert abs(measured_i + 16) <= 0.5
    info = probe(Path(job["output_path"]))
    assert info["video"]["frames"] == expected == 53
    assert abs(info["audio"]["end"] - expected / fps) < 1 / fps and info["audio"]["gaps"] == 0
    assert abs(integrated_loudness(Path(job["output_path"])) + 16) <= 1.0
    log = alice.ok("jobs", "logs", job["id"]).stdout
    measured = [line for line in log.splitlines() if line.startswith("loudness: measured")]
    assert len(measured) == 1 and "(target -16)" in measured[0], log
    normalised = float(measured[0].split("normalised to ")[1].split(" LUFS")[0])
    assert abs(normalised + 16) <= 1.0
    counts = re.search(r"(\d+) segments encoded, (\d+) reused", log)
    assert counts, log
    segments = int(counts.group(1))
    assert segments == len(durations) + len(overlaps) and counts.group(2) == "0"

    # Changing the last title (no transition touches it) re-encodes its segment only.
    alice.ok("title", "update", end["id"], "Fin", "--color", "gold")
    again = json.loads(alice.ok("render", "submit", project, *FAST, "--loudness", "-16",
                                "--json").stdout)
    assert again["status"] == "completed" and again["output_sha256"] != job["output_sha256"]
    log2 = alice.ok("jobs", "logs", again["id"]).stdout
    assert f"1 segments encoded, {segments - 1} reused" in log2, log2
    assert probe(Path(again["output_path"]))["video"]["frames"] == expected


@pytest.mark.slow
def test_text_and_titles_are_visible_in_the_render(
        alice: Account, project: str, media, tmp_path: Path) -> None:
    from tests.test_render_effects import region_diff

    [red] = add(alice, project, media["red"])
    bare = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    text = json.loads(alice.ok("text", "add", red["id"], "Lower third", "--json").stdout)
    shown_ = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    lower = (300, 380, 554, 440)  # where the lower third is drawn in an 854x480 frame
    top = (300, 20, 554, 80)
    a, b = Path(bare["output_path"]), Path(shown_["output_path"])
    assert region_diff(a, b, 5, lower) > 20 and region_diff(a, b, 5, top) < 2
    # removing it gives back the bare render, from the cache
    alice.ok("text", "remove", text["id"])
    undone = json.loads(alice.ok("render", "submit", project, *FAST, "--json").stdout)
    assert undone["cache_hit"] is True and undone["output_sha256"] == bare["output_sha256"]


# --------------------------------------------------------------------------- vocabulary


def test_the_timeline_vocabulary_is_defined_once() -> None:
    """The engine's lists are the ones the spec format and the CLI use; no module outside
    the engine (which implements each kind) spells them out again, so a new transition
    kind reaches every surface at once."""
    import rendercli
    from rendercli.render import timeline
    from rendercli.specfile import model

    for name in ("TRANSITIONS", "MOTIONS", "PLACEMENTS", "TEXT_SIZES", "COLOR_NAMES",
                 "MAX_VOLUME", "MIN_LOUDNESS", "MAX_LOUDNESS", "MAX_TEXT_CHARS",
                 "DEFAULT_TRANSITION_SECONDS", "MAX_TRANSITION_SECONDS"):
        assert getattr(model, name) is getattr(timeline, name), name
    source = Path(rendercli.__file__).parent
    spelled = [str(path.relative_to(source)) for path in source.rglob("*.py")
               if path.relative_to(source).parts[0] != "render"
               and any(word in path.read_text() for word in ('"wipeleft"', '"circleopen"',
                                                             '"zoom-out"', '"maroon"'))]
    assert spelled == []


def test_deleting_a_project_with_titles_texts_and_fonts(
        alice: Account, project: str, media, storage: Path, database_url: str) -> None:
    clip, font = add(alice, project, media["clip"], media["font"])
    alice.ok("title", "add", project, "Hello", "--font", font["id"])
    alice.ok("text", "add", clip["id"], "Hi", "--font", font["id"])
    alice.ok("project", "delete", project, "--yes")
    assert [rows(database_url, model) for model in (Asset, AssetTitle, AssetText)] == [0, 0, 0]
    assert objects(storage) == []


def test_collection_fonts_faces_styles_and_fades_from_the_cli(
        alice: Account, project: str, media, tmp_path: Path) -> None:
    wqy = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    if not wqy.is_file():
        pytest.skip(f"{wqy} absent (Debian package fonts-wqy-microhei)")
    clip, font = add(alice, project, media["clip"], wqy)
    assert font["kind"] == "font" and font["container"] == "ttc"
    text = json.loads(alice.ok("text", "add", clip["id"], "中文 Hi", "--font", font["id"],
                               "--face", "1", "--style", "outline", "--fade-in", "0.2",
                               "--fade-out", "0.1", "--json").stdout)
    assert (text["font_face"], text["style"], text["fade_in"], text["fade_out"]) == (
        1, "outline", 0.2, 0.1)
    title = json.loads(alice.ok("title", "add", project, "Fin", "--style", "shadow",
                                "--fade-in", "0.5", "--json").stdout)
    assert title["title"]["style"] == "shadow" and title["title"]["fade_in"] == 0.5
    for args, reason in [
        (["--style", "glow"], "unknown --style 'glow'"),
        (["--fade-in", "11"], "--fade-in"),
        (["--face", "64"], "--face"),
        (["--for", "0.5", "--fade-in", "0.4", "--fade-out", "0.4"], "exceed the 0.5 s"),
    ]:
        result = alice("text", "add", clip["id"], "x", *args)
        assert result.exit_code == 2 and reason in result.stderr, (args, result.stderr)


def test_a_character_no_font_has_is_refused_when_the_text_is_added(
        alice: Account, project: str, media) -> None:
    [clip] = add(alice, project, media["clip"])
    result = alice("text", "add", clip["id"], "Hi \U0010fffd")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: timeline item 1 (clip.mp4), text 1: no font "
                                    "can draw U+10FFFD")
    assert "NotoSans-Bold.ttf" in result.stderr and len(result.stderr.splitlines()) == 1
    result = alice("title", "add", project, "\U0010fffd")
    assert result.exit_code == 2 and "U+10FFFD" in result.stderr
    assert json.loads(alice.ok("text", "list", clip["id"], "--json").stdout) == []


def test_text_update_changes_only_what_is_given(
        alice: Account, bob: Account, project: str, media) -> None:
    [clip] = add(alice, project, media["clip"])
    text = json.loads(alice.ok("text", "add", clip["id"], "Ana", "--at", "0.5", "--for", "1",
                               "--color", "gold", "--json").stdout)
    updated = json.loads(alice.ok("text", "update", text["id"], "--style", "shadow",
                                  "--fade-in", "0.3", "--json").stdout)
    assert (updated["style"], updated["fade_in"], updated["text"], updated["start"],
            updated["duration"], updated["color"]) == ("shadow", 0.3, "Ana", 0.5, 1.0, "gold")
    renamed = json.loads(alice.ok("text", "update", text["id"], "Ana Lima", "--json").stdout)
    assert renamed["text"] == "Ana Lima" and renamed["style"] == "shadow"
    for args, reason in [
        ([], "nothing to change"),
        (["--fade-out", "0.8"], "exceed the 1 s"),
        (["--style", "glow"], "unknown --style"),
        (["\U0010fffd"], "U+10FFFD"),
    ]:
        result = alice("text", "update", text["id"], *args)
        assert result.exit_code == 2 and reason in result.stderr, (args, result.stderr)
    assert bob("text", "update", text["id"], "--style", "none").exit_code == 3
    [row] = json.loads(alice.ok("text", "list", clip["id"], "--json").stdout)
    assert (row["text"], row["style"], row["fade_in"]) == ("Ana Lima", "shadow", 0.3)
