"""A spec filled in from one data row: every ``{{ field }}`` replaced, and checked again.

The places that hold placeholders are found once per spec (``template_sites``); each row
then only substitutes those and rebuilds the objects that contain them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rendercli.specfile import template
from rendercli.specfile.loader import FieldPath, LoadedSpec, full_match
from rendercli.specfile.model import Spec
from rendercli.specfile.shapes import Nullable, OneOf, Shape, Str, describe, spec_fields


@dataclass(frozen=True)
class Site:
    """A text in the spec that holds placeholders, or ``{{{{`` escapes to resolve."""

    path: FieldPath  # ("timeline", 0, "title")
    text: str
    shape: Str
    fields: tuple[str, ...]  # the placeholder names, in order (none: only escapes)


def _templated(shape: Shape) -> Str | None:
    match shape:
        case Str(template=True):
            return shape
        case Nullable(shape=inner):
            return _templated(inner)
        case OneOf(options=options):
            return next((s for s in map(_templated, options) if s is not None), None)
    return None


def template_sites(spec: Spec) -> list[Site]:
    """Every text of ``spec`` that holds placeholders or escapes.

    A loaded spec keeps its texts as written; :func:`fill` gives the final texts (with
    no data row, fill with ``{}``: escapes are resolved, a placeholder is an error).
    """
    return list(_sites(spec, ()))


def _sites(value: Any, path: FieldPath) -> Iterator[Site]:
    for f in spec_fields(type(value)):
        item = getattr(value, f.attr)
        shape = _templated(f.shape)
        if isinstance(item, str) and shape is not None and "{{" in item:
            yield Site((*path, f.key), item, shape, tuple(template.field_names(item)))
        elif dataclasses.is_dataclass(item):
            yield from _sites(item, (*path, f.key))
        elif isinstance(item, tuple):
            for index, element in enumerate(item):
                if dataclasses.is_dataclass(element):
                    yield from _sites(element, (*path, f.key, index))


def check_text(shape: Str, text: str, key: object) -> str | None:
    """Why a filled-in text is not acceptable, or None."""
    if not text.strip():
        return f"{key} is empty once filled in"
    if shape.max_length is not None and len(text) > shape.max_length:
        return (f"{key} is {len(text)} characters once filled in; at most "
                f"{shape.max_length} are allowed")
    if "\x00" in text:
        return f"{key} must not contain NUL characters"
    if shape.check is not None:
        try:
            shape.check(text)
        except ValueError as exc:
            return str(exc)
    if shape.pattern is not None and not full_match(shape.pattern, text):
        return f"{key}: expected {describe(shape)}, got {text!r} once filled in"
    return None


def filled_text(site: Site, values: Mapping[str, str | None],
                report: Callable[[Site, str], None] | None = None) -> str | None:
    """One site's text with the row's ``values`` filled in and checked, or None after
    reporting (when ``report`` is given) why not."""
    try:
        text = template.substitute(site.text, values)
    except template.MissingValue as exc:
        if report is not None:
            report(site, f"no value for {{{{ {exc.name} }}}}")
        return None
    reason = check_text(site.shape, text, site.path[-1])
    if reason is not None:
        if report is not None:
            report(site, reason)
        return None
    return text


def fill(loaded: LoadedSpec, sites: list[Site], values: Mapping[str, str | None],
         report: Callable[[Site, str], None]) -> Spec | None:
    """``loaded.spec`` with the row's ``values`` filled in, or None after reporting why not.

    ``report(site, message)`` is called for a missing value (the message names the
    field) and for a filled-in text that breaks its rules.
    """
    replacements: dict[FieldPath, str] = {}
    for site in sites:
        text = filled_text(site, values, report)
        if text is not None:
            replacements[site.path] = text
    if len(replacements) != len(sites):
        return None
    prefixes = {site.path[:n] for site in sites for n in range(len(site.path))}
    return _rebuild(loaded.spec, (), replacements, prefixes)


def _rebuild(value: Any, path: FieldPath, replacements: Mapping[FieldPath, str],
             prefixes: set[FieldPath]) -> Any:
    changes = {}
    for f in spec_fields(type(value)):
        here = (*path, f.key)
        if here in replacements:
            changes[f.attr] = replacements[here]
        elif here in prefixes:
            item = getattr(value, f.attr)
            if isinstance(item, tuple):
                changes[f.attr] = tuple(
                    _rebuild(element, (*here, i), replacements, prefixes)
                    if (*here, i) in prefixes else element
                    for i, element in enumerate(item))
            else:
                changes[f.attr] = _rebuild(item, here, replacements, prefixes)
    return dataclasses.replace(value, **changes) if changes else value
