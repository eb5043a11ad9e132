"""Builders for hostile and broken inputs, and an inotify watch to prove a file is never opened.

Everything is generated at test time from real media (tests.media_factory) or plain bytes.
"""

from __future__ import annotations

import ctypes
import errno
import os
import random
import struct
from pathlib import Path
from types import TracebackType

from tests.media_factory import run_ffmpeg


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (which may be a non-UTF-8 name) and return it."""
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def truncated_copy(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``src``'s bytes."""
    data = src.read_bytes()
    return write_bytes(dst, data[: int(len(data) * fraction)])


def faststart_copy(src: Path, dst: Path) -> Path:
    """A stream copy of an mp4 with its index (moov) moved before the media data."""
    run_ffmpeg("-i", str(src), "-c", "copy", "-movflags", "+faststart", str(dst))
    return dst


def corrupt_copy(faststart_mp4: Path, dst: Path, keep_after_mdat: int = 64) -> Path:
    """A valid mp4 header and index followed by random bytes where the media data was.

    The index still describes every sample, so the file opens; only decoding can tell.
    """
    data = faststart_mp4.read_bytes()
    at = data.find(b"mdat")
    assert at > 0, "expected an mdat box"
    head = data[: at + 4 + keep_after_mdat]
    garbage = random.Random(20240611).randbytes(len(data) - len(head))
    return write_bytes(dst, head + garbage)


def subtitle_only_mkv(path: Path) -> Path:
    """A Matroska file whose only stream is a subtitle track."""
    srt = path.with_name(path.stem + ".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n", encoding="utf-8")
    run_ffmpeg("-i", str(srt), "-c:s", "srt", str(path))
    srt.unlink()
    return path


def hls_playlist(path: Path, segment: Path) -> Path:
    """An HLS media playlist whose only segment is ``segment`` (an absolute path)."""
    text = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:1.0,\n{os.fsdecode(segment.resolve())}\n#EXT-X-ENDLIST\n"
    )
    return write_bytes(path, text.encode())


def ffconcat_list(path: Path, entry: str) -> Path:
    """An ffconcat script listing one file (relative names pass the demuxer's safe mode)."""
    return write_bytes(path, f"ffconcat version 1.0\nfile '{entry}'\n".encode())


# --- inotify -------------------------------------------------------------------------------

IN_ACCESS = 0x001
IN_OPEN = 0x020
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class OpenWatch:
    """Records every open() of one file, kernel-side, via inotify (Linux).

    The kernel queues the event inside the open syscall itself, so once the code under
    test has returned, ``opened()`` is exact: no timing, no atime heuristics.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = -1

    def __enter__(self) -> OpenWatch:
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.fd = fd
        wd = self._libc.inotify_add_watch(fd, os.fsencode(self.path), IN_OPEN | IN_ACCESS)
        if wd < 0:
            os.close(fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch failed for {self.path}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def events(self) -> list[int]:
        """Masks of the events queued since the last call."""
        masks: list[int] = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return masks
            except OSError as exc:  # pragma: no cover - defensive
                if exc.errno == errno.EAGAIN:
                    return masks
                raise
            offset = 0
            while offset < len(buf):
                _wd, mask, _cookie, length = _EVENT.unpack_from(buf, offset)
                masks.append(mask)
                offset += _EVENT.size + length

    def opened(self) -> bool:
        """True if the file was opened (or read) since the last call."""
        return any(mask & (IN_OPEN | IN_ACCESS) for mask in self.events())


def _font_tables(data: bytes) -> dict[bytes, tuple[int, int, int]]:
    """tag -> (table directory entry offset, table offset, length) of a TTF/OTF font."""
    (count,) = struct.unpack_from(">H", data, 4)
    return {bytes(data[12 + 16 * n: 16 + 16 * n]):
            (12 + 16 * n, *struct.unpack_from(">II", data, 20 + 16 * n))
            for n in range(count)}


def font_without_maxp(font: Path, dst: Path) -> Path:
    """A copy of `font` whose `maxp` table is gone (its directory entry renamed): our
    metrics reader does not need it, FreeType does."""
    data = bytearray(font.read_bytes())
    entry, _offset, _length = _font_tables(bytes(data))[b"maxp"]
    data[entry: entry + 4] = b"zzzz"
    return write_bytes(dst, bytes(data))


def font_with_garbage_glyf(font: Path, dst: Path) -> Path:
    """A copy of `font` whose outlines (`glyf`) are all 0xFF bytes."""
    data = bytearray(font.read_bytes())
    _entry, offset, length = _font_tables(bytes(data))[b"glyf"]
    data[offset: offset + length] = b"\xff" * length
    return write_bytes(dst, bytes(data))
