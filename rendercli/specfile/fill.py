"""A spec filled in from one data row: every ``{{ field }}`` replaced, and checked again.

The places that hold placeholders are found once per spec (``template_sites``); each row
then only substitutes those and rebuilds the objects that contain them. A number left to
the row (``duration: "{{ seconds }}"``) is read with the loader's own checks, and the
rebuilt objects' rules spanning fields (``spec_checks``) run on the filled-in values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rendercli.specfile import template
from rendercli.specfile.loader import FieldPath, LoadedSpec, full_match, read_filled
from rendercli.specfile.model import Spec
from rendercli.specfile.nodes import INVALID
from rendercli.specfile.shapes import (
    Nullable,
    OneOf,
    Shape,
    Str,
    Unfilled,
    cross_checks,
    describe,
    spec_fields,
)

Report = Callable[[FieldPath, str], None]  # (where in the spec, why)


@dataclass(frozen=True)
class Site:
    """A text in the spec that holds placeholders, or ``{{{{`` escapes to resolve; or a
    number left to the row (``shape`` is then the field's, not a :class:`Str`)."""

    path: FieldPath  # ("timeline", 0, "title")
    text: str
    shape: Shape
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
        elif isinstance(item, Unfilled):
            yield Site((*path, f.key), item.text, item.shape,
                       tuple(template.field_names(item.text)))
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
                report: Report | None = None) -> str | None:
    """One text site's text with the row's ``values`` filled in and checked, or None
    after reporting (when ``report`` is given) why not."""
    value = filled_value(site, values, report)
    return value if isinstance(value, str) else None


def filled_value(site: Site, values: Mapping[str, str | None],
                 report: Report | None = None) -> Any:
    """One site's final value from the row's ``values``: the checked text, or the number
    read as the field's shape; INVALID after reporting (when ``report`` is given) why."""
    try:
        text = template.substitute(site.text, values)
    except template.MissingValue as exc:
        if report is not None:
            report(site.path, f"no value for {{{{ {exc.name} }}}}")
        return INVALID
    if isinstance(site.shape, Str):
        value: Any = text
        reason = check_text(site.shape, text, site.path[-1])
    else:
        value, reason = read_filled(site.shape, text, site.path[-1])
    if reason is not None:
        if report is not None:
            report(site.path, reason)
        return INVALID
    return value


def fill(loaded: LoadedSpec, sites: list[Site], values: Mapping[str, str | None],
         report: Report) -> Spec | None:
    """``loaded.spec`` with the row's ``values`` filled in, or None after reporting why not.

    ``report(where, message)`` is called for a missing value (the message names the
    field), for a filled-in value that breaks its rules, and for a rule spanning fields
    that the filled-in values break (``trim_end`` before ``trim_start``, say).
    """
    replacements: dict[FieldPath, Any] = {}
    failed: list[FieldPath] = []
    for site in sites:
        value = filled_value(site, values, report)
        if value is not INVALID:
            replacements[site.path] = value
        else:
            failed.append(site.path)
    prefixes = {site.path[:n] for site in sites for n in range(len(site.path))}
    # The objects holding a value that was not text (a number) get their rules spanning
    # fields checked, unless one of their values failed (and was reported). The spec is
    # rebuilt even then, so every problem of a row shows at once.
    checked = {site.path[:n] for site in sites if not isinstance(site.shape, Str)
               for n in range(len(site.path))}
    checked.difference_update(path[:n] for path in failed for n in range(len(path)))
    broken: list[tuple[FieldPath, str]] = []
    spec = _rebuild(loaded.spec, (), replacements, prefixes, checked, broken)
    for where, message in broken:
        report(where, message)
    return None if broken or len(replacements) != len(sites) else spec


def _rebuild(value: Any, path: FieldPath, replacements: Mapping[FieldPath, Any],
             prefixes: set[FieldPath], checked: set[FieldPath],
             broken: list[tuple[FieldPath, str]]) -> Any:
    changes = {}
    for f in spec_fields(type(value)):
        here = (*path, f.key)
        if here in replacements:
            changes[f.attr] = replacements[here]
        elif here in prefixes:
            item = getattr(value, f.attr)
            if isinstance(item, tuple):
                changes[f.attr] = tuple(
                    _rebuild(element, (*here, i), replacements, prefixes, checked, broken)
                    if (*here, i) in prefixes else element
                    for i, element in enumerate(item))
            else:
                changes[f.attr] = _rebuild(item, here, replacements, prefixes, checked, broken)
    if not changes:
        return value
    rebuilt = dataclasses.replace(value, **changes)
    if path in checked:  # the same rules the loader runs on an object written in full
        broken.extend(((*path, key), message)
                      for key, message in cross_checks(type(value), rebuilt))
    return rebuilt
