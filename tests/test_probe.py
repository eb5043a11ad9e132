"""Probe real media generated at test time, and reject hostile or broken inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from rendercli.errors import ExitStatus, InvalidInput
from rendercli.media.ffmpeg_binary import ffmpeg_path
from rendercli.media.formats import (
    DEMUXER_CONTAINERS,
    FORMAT_WHITELIST,
    container_for,
    ffmpeg_input_args,
    input_options,
)
from rendercli.media.info import MediaInfo
from rendercli.media.probe import probe
from rendercli.media.validate import check_file, safe_display_name
from tests.hostile_media import (
    OpenWatch,
    corrupt_copy,
    faststart_copy,
    ffconcat_list,
    hls_playlist,
    subtitle_only_mkv,
    truncated_copy,
    write_bytes,
)
from tests.media_factory import make_audio, make_image, make_video

LIMITS: dict[str, Any] = {"max_duration": 60.0, "max_dimension": 8192}


def run_probe(path: Path, **overrides: Any) -> MediaInfo:
    return probe(path, display_name=safe_display_name(path), **{**LIMITS, **overrides})


def rejection(path: Path, **overrides: Any) -> str:
    """Probe a file that must be rejected; the one-line message, checked to name the file."""
    with pytest.raises(InvalidInput) as info:
        run_probe(path, **overrides)
    message = str(info.value)
    assert info.value.exit_status == ExitStatus.INVALID_INPUT
    assert message.startswith(f"{safe_display_name(path)}: "), message
    assert "\n" not in message
    return message


# --- valid media ---------------------------------------------------------------------------

Builder = Callable[[Path], Path]
VALID: list[tuple[str, Builder, dict[str, Any]]] = [
    ("clip.mp4", lambda p: make_video(p),
     {"kind": "video", "container": "mp4", "video_codec": "h264", "audio_codec": "aac",
      "pix_fmt": "yuv420p", "sample_rate": 44100, "channels": 2}),
    ("silent.mov", lambda p: make_video(p, audio=False),
     {"kind": "video", "container": "mov", "video_codec": "h264", "has_audio": False,
      "audio_codec": None, "sample_rate": None}),
    ("clip.webm", lambda p: make_video(p, vcodec="libvpx-vp9"),
     {"kind": "video", "container": "webm", "video_codec": "vp9", "audio_codec": "opus",
      "sample_rate": 48000}),
    ("clip.mkv", lambda p: make_video(p),
     {"kind": "video", "container": "matroska", "video_codec": "h264", "audio_codec": "opus"}),
    ("clip.avi", lambda p: make_video(p, vcodec="mpeg4"),
     {"kind": "video", "container": "avi", "video_codec": "mpeg4", "audio_codec": "mp3"}),
    ("clip.ts", lambda p: make_video(p),
     {"kind": "video", "container": "mpegts", "video_codec": "h264", "audio_codec": "aac"}),
    ("anim.gif", lambda p: make_video(p, vcodec="gif", audio=False, size=(64, 48)),
     {"kind": "video", "container": "gif", "video_codec": "gif", "width": 64, "height": 48}),
    ("tone.mp3", lambda p: make_audio(p),
     {"kind": "audio", "container": "mp3", "audio_codec": "mp3", "sample_rate": 44100}),
    ("tone.wav", lambda p: make_audio(p),
     {"kind": "audio", "container": "wav", "audio_codec": "pcm_s16le", "channels": 1}),
    ("tone.flac", lambda p: make_audio(p), {"kind": "audio", "container": "flac",
                                            "audio_codec": "flac"}),
    ("tone.ogg", lambda p: make_audio(p), {"kind": "audio", "container": "ogg",
                                           "audio_codec": "vorbis"}),
    ("tone.m4a", lambda p: make_audio(p), {"kind": "audio", "container": "mp4",
                                           "audio_codec": "aac"}),
    ("tone.aac", lambda p: make_audio(p), {"kind": "audio", "container": "aac",
                                           "audio_codec": "aac"}),
    ("alpha.png", lambda p: make_image(p, alpha=True),
     {"kind": "image", "container": "png", "video_codec": "png", "pix_fmt": "rgba"}),
    ("photo.jpg", lambda p: make_image(p), {"kind": "image", "container": "jpeg",
                                            "video_codec": "mjpeg"}),
    ("still.webp", lambda p: make_image(p), {"kind": "image", "container": "webp",
                                             "video_codec": "webp"}),
    ("still.gif", lambda p: make_image(p), {"kind": "image", "container": "gif",
                                            "video_codec": "gif"}),
    ("still.bmp", lambda p: make_image(p), {"kind": "image", "container": "bmp",
                                            "video_codec": "bmp"}),
    ("still.tiff", lambda p: make_image(p), {"kind": "image", "container": "tiff",
                                             "video_codec": "tiff"}),
]


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.mark.parametrize(("name", "build", "expected"), VALID, ids=[v[0] for v in VALID])
def test_probe_real_media(
    media_dir: Path, name: str, build: Builder, expected: dict[str, Any]
) -> None:
    info = run_probe(build(media_dir / name))
    for field, value in expected.items():
        assert getattr(info, field) == value, (field, info)
    assert info.container in DEMUXER_CONTAINERS.values() or info.container in ("mov", "webm")
    assert info.demuxer in DEMUXER_CONTAINERS
    assert info.rotation == 0
    if info.kind == "image":
        assert (info.width, info.height) == (320, 240)
        assert info.duration is None and info.frame_rate is None
        assert not info.has_audio and info.audio_codec is None
    elif info.kind == "video":
        assert info.duration == pytest.approx(1.0, abs=0.15)
        assert info.frame_rate == pytest.approx(25.0)
        assert info.width and info.height and info.pix_fmt
    else:
        assert info.duration == pytest.approx(1.0, abs=0.15)
        assert info.has_audio and info.sample_rate and info.channels
        assert info.width is None and info.height is None and info.video_codec is None
    if info.has_audio:
        assert info.audio_codec is not None and info.sample_rate and info.channels
    assert info.to_dict()["kind"] == info.kind


@pytest.mark.parametrize(
    ("display_rotation", "clockwise", "portrait"),
    [(90, 270, True), (-90, 90, True), (180, 180, False), (0, 0, False)],
)
def test_rotation_is_applied_to_displayed_size(
    tmp_path: Path, display_rotation: int, clockwise: int, portrait: bool
) -> None:
    # ffmpeg's -display_rotation is counter-clockwise; a phone's portrait clip is -90 (cw 90).
    clip = make_video(tmp_path / "phone.mp4", duration=0.5, rotate=display_rotation)
    info = run_probe(clip)
    assert info.rotation == clockwise
    assert (info.width, info.height) == ((240, 320) if portrait else (320, 240))
    assert (info.width < info.height) is portrait


def test_rotated_clip_in_mov(tmp_path: Path) -> None:
    info = run_probe(make_video(tmp_path / "phone.mov", duration=0.5, rotate=-90, audio=False))
    assert (info.container, info.rotation, info.width, info.height) == ("mov", 90, 240, 320)


def test_cover_art_does_not_make_audio_a_video(tmp_path: Path) -> None:
    tone = make_audio(tmp_path / "tone.mp3")
    cover = make_image(tmp_path / "cover.png", size=(32, 32))
    tagged = tmp_path / "tagged.mp3"
    subprocess.run(
        [ffmpeg_path(), "-nostdin", "-y", "-loglevel", "error", "-i", str(tone), "-i",
         str(cover), "-map", "0", "-map", "1", "-c", "copy", "-disposition:v", "attached_pic",
         str(tagged)],
        check=True,
    )
    with av.open(str(tagged)) as c:  # the cover really is there as a video stream
        assert len(c.streams.video) == 1
    info = run_probe(tagged)
    assert info.kind == "audio" and info.video_codec is None and info.width is None


# --- pre-checks ------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert rejection(tmp_path / "gone.mp4") == "gone.mp4: no such file"


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    assert "is a directory" in rejection(folder)


def test_empty_file(tmp_path: Path) -> None:
    assert rejection(write_bytes(tmp_path / "x.mp4", b"")) == "x.mp4: file is empty"


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    assert rejection(fifo) == "pipe.mp4: not a regular file"


def _check_file_as(uid: int | None, path: Path) -> str:
    """check_file's verdict on ``path``, run in a forked child as ``uid`` (None: as we are).

    Root reads any file regardless of its mode, so as root the check runs in a child that
    has dropped to an unprivileged uid; the parent stays root.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 1
        try:
            os.close(read_end)
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            try:
                check_file(path, display_name=safe_display_name(path))
                verdict = "accepted"
            except InvalidInput as exc:
                verdict = str(exc)
            os.write(write_end, verdict.encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        verdict = reader.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return verdict


def test_unreadable_file() -> None:
    as_root = os.geteuid() == 0
    uid = 65534 if as_root else None  # "nobody"
    # A directory an unprivileged uid can enter (pytest's tmp_path is private to root).
    folder = Path(tempfile.mkdtemp(prefix="rendercli-perm-"))
    try:
        folder.chmod(0o755)
        readable = make_image(folder / "open.png")
        readable.chmod(0o644)
        secret = make_image(folder / "secret.png")
        secret.chmod(0o000)
        assert _check_file_as(uid, readable) == "accepted"  # control
        assert _check_file_as(uid, secret) == "secret.png: permission denied"
    finally:
        shutil.rmtree(folder)


def test_check_file_reports_size_limit(tmp_path: Path) -> None:
    clip = write_bytes(tmp_path / "big.mp4", b"x" * 2500)
    assert check_file(clip, display_name="big.mp4") == 2500
    with pytest.raises(InvalidInput, match=r"^big\.mp4: file is 2\.5 kB, above the 1\.0 kB limit$"):
        check_file(clip, display_name="big.mp4", max_file_size=1000)


# --- not media, broken media -----------------------------------------------------------------


def test_text_file_named_mp4(tmp_path: Path) -> None:
    text = write_bytes(tmp_path / "notes.mp4", b"Meeting notes\nnothing to see here\n" * 20)
    assert rejection(text).startswith("notes.mp4: not a supported media file")


def test_truncated_mp4_is_rejected(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "whole.mp4")
    run_probe(clip)  # control: the uncut file is fine
    message = rejection(truncated_copy(clip, tmp_path / "half.mp4"))
    assert "damaged" in message or "truncated" in message


def test_truncated_faststart_mp4_is_rejected(tmp_path: Path) -> None:
    # Index first: the first frames still decode, only the index shows the missing tail.
    fast = faststart_copy(make_video(tmp_path / "whole.mp4"), tmp_path / "fast.mp4")
    run_probe(fast)
    assert "is truncated" in rejection(truncated_copy(fast, tmp_path / "half.mp4"))


def test_corrupt_mp4_is_rejected(tmp_path: Path) -> None:
    fast = faststart_copy(make_video(tmp_path / "whole.mp4"), tmp_path / "fast.mp4")
    bad = corrupt_copy(fast, tmp_path / "garbled.mp4")
    with av.open(str(bad)):  # control: the container itself still opens
        pass
    message = rejection(bad)
    assert "cannot be decoded" in message or "no decodable frame" in message


def test_file_without_decodable_stream(tmp_path: Path) -> None:
    subs = subtitle_only_mkv(tmp_path / "subs.mkv")
    assert rejection(subs) == "subs.mkv: no decodable video, audio or image stream"


# --- containers that open other files --------------------------------------------------------


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """Real media outside any storage directory, which nothing may open."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    return make_video(outside / "canary.ts", duration=0.5)


def test_hls_playlist_is_rejected_and_never_followed(tmp_path: Path, canary: Path) -> None:
    as_mp4 = hls_playlist(tmp_path / "clip.mp4", canary)
    as_m3u8 = hls_playlist(tmp_path / "clip.m3u8", canary)
    with OpenWatch(canary) as watch:
        # Control: unprotected FFmpeg follows the playlist to the canary, and the watch sees it.
        with av.open(str(as_m3u8)) as c:
            assert c.format.name.startswith("hls")
        assert watch.opened()

        assert rejection(as_mp4) == (
            "clip.mp4: not a supported media file (format 'hls' is not allowed)"
        )
        assert rejection(as_m3u8).startswith("clip.m3u8: not a supported media file")
        # The whitelist itself refuses hls even where FFmpeg would detect it by name.
        with pytest.raises(av.error.ArgumentError):
            av.open("file:" + str(as_m3u8), container_options=input_options())
        proc = subprocess.run(
            [ffmpeg_path(), "-nostdin", "-hide_banner", *ffmpeg_input_args(as_m3u8),
             "-f", "null", "-"],
            capture_output=True, text=True, check=False,
        )
        assert proc.returncode != 0 and "not on whitelist" in proc.stderr
        assert not watch.opened()


def test_ffconcat_list_is_rejected_and_never_followed(tmp_path: Path, canary: Path) -> None:
    listing = ffconcat_list(canary.parent / "list.mp4", canary.name)
    with OpenWatch(canary) as watch:
        with av.open(str(listing)) as c:  # control: the concat demuxer opens the canary
            assert c.format.name == "concat"
        assert watch.opened()

        assert rejection(listing) == (
            "list.mp4: not a supported media file (format 'concat' is not allowed)"
        )
        assert not watch.opened()


def test_fd_protocol_whitelist_alone_stops_nested_opens(tmp_path: Path, canary: Path) -> None:
    # Defence in depth: even with a playlist demuxer forced past the format whitelist, the
    # probe's protocol whitelist ("fd" only) leaves it no way to open a file by name.
    text = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:{canary}\n#EXT-X-ENDLIST\n"
    playlist = write_bytes(tmp_path / "forced.m3u8", text.encode())

    def open_forced(protocols: str) -> str:
        fd = os.open(playlist, os.O_RDONLY)
        try:
            options = {"fd": str(fd), "protocol_whitelist": protocols,
                       "format_whitelist": "hls,mpegts"}
            with av.open("fd:", format="hls", container_options=options) as c:
                return c.format.name
        finally:
            os.close(fd)

    with OpenWatch(canary) as watch:
        assert open_forced("fd,file").startswith("hls")  # control: "file" lets it through
        assert watch.opened()
        with pytest.raises(av.FFmpegError):
            open_forced("fd")
        assert not watch.opened()


# --- limits ----------------------------------------------------------------------------------


def test_video_wider_than_limit(tmp_path: Path) -> None:
    wide = make_video(tmp_path / "wide.mp4", size=(8200, 16), duration=0.2, audio=False)
    assert rejection(wide) == "wide.mp4: 8200x16 exceeds the 8192 px limit"
    assert run_probe(wide, max_dimension=8200).width == 8200  # control


def test_image_taller_than_lowered_limit_uses_displayed_size(tmp_path: Path) -> None:
    assert rejection(make_image(tmp_path / "tall.png", size=(16, 600)), max_dimension=500) == (
        "tall.png: 16x600 exceeds the 500 px limit"
    )
    portrait = make_video(tmp_path / "phone.mp4", duration=0.5, rotate=-90, audio=False)
    assert rejection(portrait, max_dimension=300) == "phone.mp4: 240x320 exceeds the 300 px limit"


def test_duration_above_limit(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "long.mp4", duration=2.0, audio=False)
    assert rejection(clip, max_duration=1.5) == "long.mp4: duration 2.0 s exceeds the 1.5 s limit"
    tone = make_audio(tmp_path / "long.flac", duration=2.0)
    assert "exceeds the 1.5 s limit" in rejection(tone, max_duration=1.5)


# --- hostile names ---------------------------------------------------------------------------

WEIRD_NAMES: list[tuple[bytes, str]] = [
    (b"-i.mp4", "-i.mp4"),
    (b"--help.mp4", "--help.mp4"),
    (b"my clip 'final' \"v2\".mp4", "my clip 'final' \"v2\".mp4"),
    (b"line\nbreak.mp4", "line?break.mp4"),
    (b"caf\xe9 \xff.mp4", "caf\ufffd \ufffd.mp4"),
    (b"concat:a.mp4|b.mp4", "concat:a.mp4|b.mp4"),
    (b"evil\xe2\x80\xaemp4.exe", "evil?mp4.exe"),  # U+202E right-to-left override
]


@pytest.mark.parametrize(("raw", "shown"), WEIRD_NAMES, ids=[repr(w[0]) for w in WEIRD_NAMES])
def test_weird_file_names_are_data(tmp_path: Path, raw: bytes, shown: str) -> None:
    source = make_video(tmp_path / "plain.mp4", duration=0.5)
    weird = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), raw)))
    shutil.copyfile(source, weird)
    assert safe_display_name(weird) == shown
    info = run_probe(weird)
    assert info.kind == "video" and info.container == "mp4"
    text = write_bytes(Path(os.fsdecode(os.fsencode(weird) + b".txt")), b"not media\n" * 10)
    message = rejection(text)
    assert message.startswith(shown) and "\n" not in message


def test_safe_display_name_edge_cases() -> None:
    assert safe_display_name(Path("/videos/clip.mp4")) == "clip.mp4"
    assert safe_display_name(b"/videos/\x1b[31mred.mp4") == "?[31mred.mp4"
    assert safe_display_name("") == "(unnamed)"
    assert safe_display_name(Path("/")) == "/"
    long = safe_display_name("x" * 500 + ".mp4")
    assert len(long) == 200 and long.endswith("\u2026")


# --- the allow-list and FFmpeg options -------------------------------------------------------


def test_allow_list_names_real_demuxers_and_excludes_dangerous_ones() -> None:
    names = FORMAT_WHITELIST.split(",")
    assert set(names) == set(DEMUXER_CONTAINERS)
    for name in names:
        assert av.ContainerFormat(name).is_input, name
    for banned in ("image2", "image2pipe", "hls", "concat", "dash", "tty", "lavfi", "rtsp"):
        assert banned not in names
        assert container_for(banned) is None
    assert container_for("mov,mp4,m4a,3gp,3g2,mj2") == "mp4"
    assert container_for("matroska,webm") == "matroska"


def test_pyav_applies_format_whitelist_before_open(media_dir: Path) -> None:
    image = make_image(media_dir / "wl.png")
    with av.open("file:" + str(image), container_options=input_options()) as c:  # control
        assert c.format.name == "png_pipe"
    with pytest.raises(av.error.ArgumentError):
        av.open("file:" + str(image), container_options={"format_whitelist": "mov"})


def test_pyav_applies_protocol_whitelist_before_open(media_dir: Path) -> None:
    clip = make_video(media_dir / "pw.mp4", duration=0.5)
    with av.open("file:" + str(clip), container_options=input_options("file")):  # control
        pass
    with pytest.raises(av.error.ArgumentError):
        av.open("file:" + str(clip), container_options=input_options("fd"))


def ffmpeg_decodes(args: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", *args,
           "-frames:v", "1", "-f", "null", "-"]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_ffmpeg_input_args_with_probed_demuxer(tmp_path: Path) -> None:
    photo = make_image(tmp_path / "-photo.jpg")
    info = run_probe(photo)
    assert info.demuxer == "jpeg_pipe"
    # By name FFmpeg would pick image2 for ".jpg", which the whitelist refuses...
    refused = ffmpeg_decodes(ffmpeg_input_args(photo))
    assert refused.returncode != 0 and "not on whitelist" in refused.stderr
    # ...so renders pin the demuxer the probe used (stored objects also have no extension).
    assert ffmpeg_decodes(ffmpeg_input_args(photo, info.demuxer)).returncode == 0
    with pytest.raises(ValueError, match="not on the allow-list"):
        ffmpeg_input_args(photo, "image2")


def test_shipped_ffmpeg_is_found_without_importing_imageio_ffmpeg(monkeypatch) -> None:
    """The binary found in imageio-ffmpeg's folder is the one its own lookup returns,
    and IMAGEIO_FFMPEG_EXE still hands the choice to imageio-ffmpeg."""
    import imageio_ffmpeg

    from rendercli.media import ffmpeg_binary

    assert ffmpeg_binary._shipped_binary() == imageio_ffmpeg.get_ffmpeg_exe()
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", "/opt/ffmpeg/bin/ffmpeg")
    assert ffmpeg_binary._shipped_binary() is None
