"""Object names: the one mapping from a name to its key in a bucket and its local path.

A name is ``<kind>/<file>``, the same under a bucket's prefix and (through
:func:`local_path`) in the storage directory::

    objects/<sha256>             objects/ab/<sha256>         asset, font and title media
    segments/<key>.<ext>         cache/segments/<key>.<ext>  segment cache (+ <key>.json)
    renders/<key>.<ext>          cache/renders/<key>.<ext>   render cache (+ .jpg, .json)
    outputs/<job id>.<ext>       renders/<job id>.<ext>      a job's output and poster

Names can come from database rows and Redis payloads, so every one is checked for shape
(known kind, a SHA-256 or a job id, a known extension) before a path or a key is built;
anything else is :class:`rendercli.storage.UnsafePath`.
"""

from __future__ import annotations

import re
from pathlib import Path

from rendercli import storage

KINDS = ("objects", "segments", "renders", "outputs")
_CACHE_RE = re.compile(r"(segments|renders)/([0-9a-f]{64})\.([a-z0-9]{1,4})")
_OBJECT_RE = re.compile(r"objects/([0-9a-f]{64})")
_OUTPUT_RE = re.compile(r"outputs/([a-z0-9][a-z0-9-]{0,63})\.([a-z0-9]{1,4})")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_name(name: object) -> str:
    """``name`` if it is a valid object name (see the module doc), else UnsafePath."""
    if isinstance(name, str):
        if _OBJECT_RE.fullmatch(name):
            return name
        match = _CACHE_RE.fullmatch(name)
        if match and match.group(3) in storage.CACHE_EXTS:
            return name
        match = _OUTPUT_RE.fullmatch(name)
        if match and match.group(2) in storage.RENDER_EXTS:
            return name
    raise storage.UnsafePath(f"refusing object name {_shown(name)}: not a storage name")


def object_name(sha256: str) -> str:
    """The name of the asset object with this SHA-256."""
    return f"objects/{storage.check_digest(sha256)}"


def cache_name(kind: str, key: str, ext: str) -> str:
    """The name of a segment or render cache entry."""
    return check_name(f"{kind}/{key}.{ext}")


def output_name(job_id: str, ext: str) -> str:
    """The name of a job's output (or poster, ``jpg``)."""
    return check_name(f"outputs/{storage.check_job_id(job_id)}.{ext}")


def name_digest(name: str) -> str | None:
    """The SHA-256 a name itself promises (objects/ only: the name IS the hash)."""
    match = _OBJECT_RE.fullmatch(check_name(name))
    return match.group(1) if match else None


def local_path(storage_dir: Path, name: str) -> Path:
    """The canonical local path of ``name`` under ``storage_dir`` (confined to it)."""
    kind, _, rest = check_name(name).partition("/")
    if kind == "objects":
        return storage.object_path(storage_dir, rest)
    stem, _, ext = rest.rpartition(".")
    if kind == "outputs":
        return storage.render_path(storage_dir, stem, ext)
    return storage.cache_path(storage_dir, kind, stem, ext)
