"""Probe a media file with PyAV: what it is, and proof that it decodes.

This is the only probing code path. The file is opened by us (os.open) and handed to
FFmpeg as an ``fd:`` URL, so FFmpeg never sees the file name: detection is by content
only, and the protocol whitelist (``fd``) forbids every nested open, while the format
whitelist refuses any demuxer outside the allow-list before it reads a byte.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli.errors import InvalidInput
from rendercli.media.colour import SourceColour, hdr_refusal
from rendercli.media.formats import (
    FD_PROTOCOL_WHITELIST,
    IMAGE_CONTAINERS,
    container_for,
    demuxer_key,
    input_options,
)
from rendercli.media.info import MediaInfo, MediaKind
from rendercli.media.validate import open_regular_file

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.stream import Stream

# Demuxing stops after this many packets even if a wanted frame has not appeared yet:
# a real file interleaves its streams far more tightly.
MAX_PROBE_PACKETS = 3000


def probe_colour(path: Path) -> tuple[SourceColour, str | None, int | None]:
    """The colour tags, pixel format and height of the first frame of a picture file the
    render engine is about to draw (already validated at ingest), opened the same
    confined way as ``probe``. Raises InvalidInput if it has no decodable picture."""
    fd, _size = open_regular_file(path, display_name=path.name)
    try:
        prober = _Prober(fd, path.name, float("inf"), 1 << 16)
        with prober.open() as container:
            video, _audio = prober.pick_streams(container)
            if video is None:
                raise prober.reject("no picture stream")
            frame = prober.decode_start(container, video, None, want_two=False).first_video
            return SourceColour.from_frame(frame), frame.format.name, frame.height
    finally:
        os.close(fd)


def probe(path: Path, *, display_name: str, max_duration: float, max_dimension: int) -> MediaInfo:
    """Probe ``path`` and return what it holds, or raise InvalidInput naming ``display_name``.

    Rejects anything that is not a non-empty regular file in an allowed container with at
    least one video, audio or image stream whose first frame decodes, and media beyond
    ``max_duration`` seconds or wider/taller than ``max_dimension`` pixels as displayed.
    """
    fd, _size = open_regular_file(path, display_name=display_name)
    try:
        return _Prober(fd, display_name, max_duration, max_dimension).run()
    finally:
        os.close(fd)


@dataclass
class _Decoded:
    video_frames: int = 0
    first_video: Any = None  # av.VideoFrame
    audio_frames: int = 0


class _Prober:
    def __init__(self, fd: int, display_name: str, max_duration: float, max_dimension: int):
        self.fd = fd
        self.name = display_name
        self.max_duration = max_duration
        self.max_dimension = max_dimension

    def reject(self, reason: str) -> InvalidInput:
        return InvalidInput(f"{self.name}: {reason}")

    def run(self) -> MediaInfo:
        with self.open() as container:
            demuxer = demuxer_key(container.format.name)
            container_name = self.container_name(container)
            video, audio = self.pick_streams(container)
            if video is None and audio is None:
                raise self.reject("no decodable video, audio or image stream")
            if video is not None:
                self.check_picture_area(video.codec_context.width, video.codec_context.height)
            self.check_complete([s for s in (video, audio) if s is not None])
            still_candidate = container_name in IMAGE_CONTAINERS
            decoded = self.decode_start(container, video, audio, want_two=still_candidate)
            kind: MediaKind
            if video is not None:
                kind = "image" if still_candidate and decoded.video_frames == 1 else "video"
            else:
                kind = "audio"
            duration = None if kind == "image" else self.duration(container, video, audio)
            return self.describe(
                kind, container_name, demuxer, duration, video, audio, decoded.first_video
            )

    # -- opening -------------------------------------------------------------------------

    @contextmanager
    def open(self) -> Iterator[InputContainer]:
        import av

        os.lseek(self.fd, 0, os.SEEK_SET)
        options = {**input_options(FD_PROTOCOL_WHITELIST), "fd": str(self.fd)}
        try:
            container = av.open("fd:", mode="r", container_options=options)
        except (av.error.InvalidDataError, av.error.ArgumentError) as exc:
            # Name what we can recognise from the bytes themselves. FFmpeg's log would say
            # more, but PyAV delivers log lines late and drops repeats, so a captured line
            # may belong to a previous file.
            refused = _sniff_playlist(os.pread(self.fd, 64, 0))
            if refused:
                raise self.reject(
                    f"not a supported media file (format '{refused}' is not allowed)"
                ) from None
            if isinstance(exc, av.error.ArgumentError):
                raise self.reject("not a supported media file (format not allowed)") from None
            raise self.reject("not a supported media file or it is damaged") from None
        except av.FFmpegError as exc:
            raise self.reject(f"cannot be read as media ({_strerror(exc)})") from None
        try:
            if container_for(container.format.name) is None:  # belt and braces
                raise self.reject(
                    f"not a supported media file (format '{container.format.name}' is not allowed)"
                )
            yield container
        finally:
            container.close()

    def container_name(self, container: InputContainer) -> str:
        demuxer = demuxer_key(container.format.name)
        name = container_for(container.format.name) or demuxer
        if demuxer == "mov":
            brand = container.metadata.get("major_brand", "").strip().lower()
            return "mov" if brand == "qt" else "mp4"
        if demuxer == "matroska":
            head = os.pread(self.fd, 64, 0)
            return "webm" if _ebml_doctype(head) == b"webm" else "matroska"
        return name

    # -- streams -------------------------------------------------------------------------

    def pick_streams(self, container: InputContainer) -> tuple[Stream | None, Stream | None]:
        import av

        video = audio = None
        for stream in container.streams:
            if stream.codec_context is None:  # no decoder for this codec
                continue
            if stream.type == "video" and video is None:
                if stream.disposition & av.stream.Disposition.attached_pic:
                    continue  # cover art in an audio file, not a picture track
                video = stream
            elif stream.type == "audio" and audio is None:
                audio = stream
        return video, audio

    def check_picture_area(self, width: int, height: int) -> None:
        """Refuse to decode a picture too big for any allowed size (a memory bomb).

        The exact limit is checked after decoding, on the displayed (rotated) size.
        """
        if width * height > self.max_dimension**2:
            self.check_dimensions(width, height)

    def check_dimensions(self, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise self.reject("video stream has no picture size")
        if max(width, height) > self.max_dimension:
            raise self.reject(f"{width}x{height} exceeds the {self.max_dimension} px limit")

    def check_complete(self, streams: list[Stream]) -> None:
        """Reject a file cut short: its sample index (mp4, avi, mkv cues) points past EOF.

        Decoding the first frames cannot notice this for an mp4 written with its index
        first (faststart), and a render would fail halfway instead.
        """
        size = os.fstat(self.fd).st_size
        for stream in streams:
            entries = stream.index_entries
            if len(entries) == 0:
                continue
            last = entries[len(entries) - 1]
            if last.pos + last.size > size:
                raise self.reject(
                    f"file is truncated: {size} bytes, but its index expects at least "
                    f"{last.pos + last.size}"
                )

    def decode_start(
        self,
        container: InputContainer,
        video: Stream | None,
        audio: Stream | None,
        *,
        want_two: bool,
    ) -> _Decoded:
        """Decode the first frame(s) of the chosen streams; reject if any cannot be decoded.

        For still-image containers a second video frame is sought, to tell an image from
        an animation.
        """
        import av

        got = _Decoded()
        wanted_video = 0 if video is None else (2 if want_two else 1)
        streams = [s for s in (video, audio) if s is not None]

        def done() -> bool:
            return got.video_frames >= wanted_video and (audio is None or got.audio_frames > 0)

        packets = 0
        try:
            for packet in container.demux(streams):
                packets += 1
                stream = packet.stream
                try:
                    frames = stream.decode(packet)
                except av.FFmpegError as exc:
                    raise self.reject(
                        f"{stream.type} stream ({_codec_name(stream)}) cannot be decoded "
                        f"({_strerror(exc)})"
                    ) from None
                if stream is video:
                    if got.first_video is None and frames:
                        got.first_video = frames[0]
                    got.video_frames += len(frames)
                else:
                    got.audio_frames += len(frames)
                if done() or packets >= MAX_PROBE_PACKETS:
                    break
        except av.FFmpegError as exc:
            # A read error after the first frames only cuts the probe short; before, it is fatal.
            if not (got.video_frames or video is None) or not (got.audio_frames or audio is None):
                raise self.reject(f"cannot be read as media ({_strerror(exc)})") from None
        if video is not None and got.video_frames == 0:
            raise self.reject(f"video stream ({_codec_name(video)}) has no decodable frame")
        if audio is not None and got.audio_frames == 0:
            raise self.reject(f"audio stream ({_codec_name(audio)}) has no decodable frame")
        return got

    # -- facts ---------------------------------------------------------------------------

    def duration(
        self, container: InputContainer, video: Stream | None, audio: Stream | None
    ) -> float:
        seconds: float | None = None
        if container.duration is not None and container.duration > 0:
            seconds = container.duration / 1_000_000
        else:
            for stream in (video, audio):
                if stream is not None and stream.duration and stream.time_base:
                    seconds = max(seconds or 0.0, float(stream.duration * stream.time_base))
        if seconds is None:
            # Live recordings (e.g. browser webm) carry no duration: measure the packets.
            seconds = self.scan_duration([s.index for s in (video, audio) if s is not None])
        if seconds is None or seconds <= 0:
            raise self.reject("cannot determine the media duration")
        if seconds > self.max_duration:
            raise self.reject(
                f"duration {_fmt_seconds(seconds)} exceeds the "
                f"{_fmt_seconds(self.max_duration)} limit"
            )
        return seconds

    def scan_duration(self, indexes: list[int]) -> float | None:
        import av

        end: float | None = None
        start: float | None = None
        with self.open() as container:
            streams = [container.streams[i] for i in indexes]
            try:
                for packet in container.demux(streams):
                    if packet.pts is None or packet.time_base is None:
                        continue
                    t0 = float(packet.pts * packet.time_base)
                    t1 = t0 + float((packet.duration or 0) * packet.time_base)
                    start = t0 if start is None else min(start, t0)
                    end = t1 if end is None else max(end, t1)
            except av.FFmpegError:
                pass  # a damaged tail: what was read so far is the duration
        if start is None or end is None:
            return None
        return end - start

    def describe(
        self,
        kind: MediaKind,
        container_name: str,
        demuxer: str,
        duration: float | None,
        video: Stream | None,
        audio: Stream | None,
        frame: Any,
    ) -> MediaInfo:
        width = height = None
        rotation = 0
        frame_rate = pix_fmt = video_codec = None
        colour = None
        if video is not None and frame is not None:
            colour = SourceColour.from_frame(frame)
            refusal = hdr_refusal(colour)
            if refusal is not None:
                raise self.reject(refusal)
            # frame.rotation is FFmpeg's display-matrix angle, counter-clockwise in
            # [-180, 180]; MediaInfo wants the clockwise turn, snapped to a right angle.
            rotation = (-round(frame.rotation / 90) * 90) % 360
            width, height = frame.width, frame.height
            if rotation in (90, 270):
                width, height = height, width
            self.check_dimensions(width, height)
            pix_fmt = frame.format.name
            video_codec = _codec_name(video)
            if kind == "video":
                rate = video.average_rate or video.guessed_rate
                frame_rate = float(rate) if rate else None
        sample_rate = channels = audio_codec = None
        if audio is not None:
            ctx = audio.codec_context
            audio_codec = _codec_name(audio)
            sample_rate = ctx.sample_rate or None
            channels = ctx.layout.nb_channels or None
        return MediaInfo(
            kind=kind,
            container=container_name,
            duration=duration,
            width=width,
            height=height,
            frame_rate=frame_rate,
            rotation=rotation,
            video_codec=video_codec,
            pix_fmt=pix_fmt,
            has_audio=audio is not None,
            audio_codec=audio_codec,
            sample_rate=sample_rate,
            channels=channels,
            demuxer=demuxer,
            colour=colour,
        )


# -- helpers -------------------------------------------------------------------------------


def _sniff_playlist(head: bytes) -> str | None:
    """The name of a text format that points at other files (playlists, lists), if any."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"#extm3u"):
        return "hls"
    if text.startswith(b"ffconcat"):
        return "concat"
    return None


def _one_line(text: str, limit: int = 120) -> str:
    """Make FFmpeg text (which may echo file bytes) safe for a one-line message."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"


def _strerror(exc: Exception) -> str:
    return _one_line(getattr(exc, "strerror", None) or str(exc))


def _codec_name(stream: Stream) -> str:
    ctx = stream.codec_context
    codec = getattr(ctx, "codec", None)
    return getattr(codec, "canonical_name", None) or ctx.name


def _ebml_doctype(head: bytes) -> bytes | None:
    """The DocType ("matroska" or "webm") from the EBML header at the start of a file."""
    at = head.find(b"\x42\x82")
    if at < 0 or at + 3 > len(head):
        return None
    size_byte = head[at + 2]
    if not size_byte & 0x80:  # only the one-byte size form is used for short strings
        return None
    size = size_byte & 0x7F
    return head[at + 3 : at + 3 + size]


def _fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
