"""A picture source's colour: its tags as probed, and how the render converts it.

Tags come from the decoded frame (FFmpeg's enum numbers) and are untrusted: each is
mapped through an allow-list of the values FFmpeg defines; anything else is "unknown".
``SourceColour.conversion`` turns them into the explicit ``scale`` input options the
render uses, with the usual defaults for untagged sources: JPEG (``yuvj*``) is full
range BT.601; other untagged YUV is limited range, BT.709 when at least 720 lines tall
and BT.601 below (stills in YUV, such as WebP, BT.601 at any size).
"""

from __future__ import annotations

from dataclasses import dataclass

# FFmpeg's AVColorRange / AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic.
RANGES = {1: "tv", 2: "pc"}
MATRICES = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
            8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 11: "smpte2085",
            12: "chroma-derived-nc", 13: "chroma-derived-c", 14: "ictcp"}
PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
             8: "film", 9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432",
             22: "ebu3213"}
TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m",
             8: "linear", 9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e",
             13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084",
             17: "smpte428", 18: "arib-std-b67"}
UNKNOWN = "unknown"
HDR_TRANSFERS = {"smpte2084": "PQ (SMPTE 2084)", "arib-std-b67": "HLG (ARIB STD-B67)"}

# The tag -> the name ``scale``'s in_color_matrix knows (FFmpeg 5.1 and later).
_SCALE_MATRIX = {"bt709": "bt709", "bt470bg": "bt601", "smpte170m": "bt601", "fcc": "fcc",
                 "smpte240m": "smpte240m", "bt2020nc": "bt2020", "bt2020c": "bt2020"}
HD_LINES = 720  # untagged sources this tall or taller are taken as BT.709

# The working colour space every segment is encoded in (SDR presets).
OUTPUT_RANGE = "tv"
OUTPUT_MATRIX = "bt709"
OUTPUT_TAGS = {"range": "tv", "color_primaries": "bt709", "color_trc": "bt709",
               "colorspace": "bt709"}


@dataclass(frozen=True)
class Conversion:
    """How the render reads a picture source: RGB, or YUV of this range and matrix
    (``scale``'s in_range and in_color_matrix names)."""

    rgb: bool
    range: str = "pc"  # tv | pc
    matrix: str = "bt709"  # bt709 | bt601 | bt2020 | fcc | smpte240m


def _name(table: dict[int, str], value: object) -> str:
    return table.get(value, UNKNOWN) if type(value) is int else UNKNOWN


@dataclass(frozen=True)
class SourceColour:
    """A source's colour tags, each a name from the allow-lists above or "unknown"."""

    range: str = UNKNOWN
    matrix: str = UNKNOWN
    primaries: str = UNKNOWN
    transfer: str = UNKNOWN

    @classmethod
    def from_frame(cls, frame: object) -> SourceColour:
        """From a decoded PyAV video frame's tags (untrusted numbers)."""
        return cls(range=_name(RANGES, getattr(frame, "color_range", None)),
                   matrix=_name(MATRICES, getattr(frame, "colorspace", None)),
                   primaries=_name(PRIMARIES, getattr(frame, "color_primaries", None)),
                   transfer=_name(TRANSFERS, getattr(frame, "color_trc", None)))

    @classmethod
    def from_dict(cls, data: object) -> SourceColour | None:
        """From stored JSON; None unless every value is one of the allow-listed names."""
        if not isinstance(data, dict) or set(data) != {"range", "matrix", "primaries",
                                                       "transfer"}:
            return None
        allowed = {"range": RANGES, "matrix": MATRICES, "primaries": PRIMARIES,
                   "transfer": TRANSFERS}
        if not all(data[k] == UNKNOWN or data[k] in table.values()
                   for k, table in allowed.items()):
            return None
        return cls(**data)

    @property
    def hdr(self) -> str | None:
        """The HDR transfer's name (PQ or HLG), or None for SDR."""
        return HDR_TRANSFERS.get(self.transfer)

    def conversion(self, pix_fmt: str | None, height: int | None, *,
                   still: bool = False) -> Conversion:
        """How to read this source: from its tags, else the defaults for its kind (a
        still image in YUV -- JPEG, WebP -- is BT.601 whatever its size)."""
        fmt = pix_fmt or ""
        if is_rgb(fmt):
            return Conversion(rgb=True)
        jpeg = fmt.startswith("yuvj")
        in_range = self.range if self.range != UNKNOWN else ("pc" if jpeg or is_gray(fmt)
                                                             else "tv")
        matrix = _SCALE_MATRIX.get(self.matrix)
        if matrix is None:
            tall = height is not None and height >= HD_LINES
            matrix = "bt601" if jpeg or still or not tall else "bt709"
        return Conversion(rgb=False, range=in_range, matrix=matrix)


def is_rgb(pix_fmt: str) -> bool:
    """Packed or planar RGB(A), palette and other non-YUV formats scale handles as RGB."""
    return pix_fmt.startswith(("rgb", "bgr", "argb", "abgr", "gbr", "pal8", "0rgb", "0bgr",
                               "rgb0", "bgr0", "x2rgb", "x2bgr", "monow", "monob"))


def is_gray(pix_fmt: str) -> bool:
    return pix_fmt.startswith(("gray", "ya8", "ya16"))


def hdr_refusal(colour: SourceColour) -> str | None:
    """The reason an HDR source is refused (one line), or None for SDR."""
    if colour.hdr is None:
        return None
    return (f"HDR video ({colour.hdr} transfer, {colour.primaries} primaries) is not "
            "supported: convert it to SDR BT.709 first, e.g. ffmpeg -i IN -vf "
            "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable,"
            "zscale=t=bt709:m=bt709:r=tv,format=yuv420p OUT")
