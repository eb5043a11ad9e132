"""The spec's JSON Schema (draft 2020-12), generated from the shapes in ``model``.

``rendercli spec schema`` prints it and docs/spec.schema.json is a copy (a test fails when
the copy is stale). The schema accepts what the loader accepts with two exceptions it
cannot express, both checked by ``rendercli spec validate``: rules spanning fields
(trim_end after trim_start, fades within the item) and the range of a volume in dB.
A number may also be written as text holding a placeholder (``"{{ seconds }}"``): its
bounds are checked once a data row fills it in.
"""

from __future__ import annotations

import json
from typing import Any

from rendercli.specfile.model import VERSION, Spec
from rendercli.specfile.shapes import (
    Bool,
    Const,
    ListOf,
    Nullable,
    Num,
    Obj,
    OneOf,
    Shape,
    Str,
    class_doc,
    spec_fields,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
PLACEHOLDER = "Placeholder"
PLACEHOLDER_SCHEMA = {
    "type": "string",
    "description": "A number given by a data row (render batch --data) or --set: text "
                   "holding {{ field }} placeholders, read as a number once filled in and "
                   "checked then with the field's bounds.",
    "pattern": r"^.*\{\{.*\}\}.*$",
}


def spec_schema() -> dict[str, Any]:
    """The JSON Schema of spec version 1, as a dict."""
    defs: dict[str, Any] = {}
    root = {"$schema": DIALECT, "title": f"rendercli timeline spec, version {VERSION}"}
    root.update(_object(Spec, defs))
    root["$defs"] = dict(sorted(defs.items()))
    return root


def schema_text() -> str:
    """The schema as printed and as stored in docs/spec.schema.json."""
    return json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n"


def _object(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    properties = {}
    for f in spec_fields(cls):
        prop = {"description": f.doc, **_shape(f.shape, defs)}
        if isinstance(f.default, str | int | float | bool) and not isinstance(f.shape, Const):
            prop["default"] = f.default
        elif f.default == ():
            prop["default"] = []
        properties[f.key] = prop
    schema: dict[str, Any] = {"type": "object", "description": class_doc(cls),
                              "properties": properties}
    required = [f.key for f in spec_fields(cls) if f.required]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _shape(shape: Shape, defs: dict[str, Any]) -> dict[str, Any]:
    match shape:
        case Str():
            out: dict[str, Any] = {"type": "string"}
            if shape.enum is not None:
                out["enum"] = list(shape.enum)
            if shape.pattern is not None:  # or, where allowed, a {{ placeholder }}
                either = r"|.*\{\{.*\}\}.*" if shape.template or shape.later else ""
                out["pattern"] = f"^(?:{shape.pattern}{either})$"
            if shape.min_length:
                out["minLength"] = shape.min_length
            if shape.max_length is not None:
                out["maxLength"] = shape.max_length
            return out
        case Num():
            out = {"type": "integer" if shape.integer else "number"}
            if shape.minimum is not None:
                out["minimum"] = shape.minimum
            if shape.above is not None:
                out["exclusiveMinimum"] = shape.above
            if shape.maximum is not None:
                out["maximum"] = shape.maximum
            # or a number a data row fills in (checked with the same bounds then)
            defs.setdefault(PLACEHOLDER, PLACEHOLDER_SCHEMA)
            return {"anyOf": [out, {"$ref": f"#/$defs/{PLACEHOLDER}"}]}
        case Bool():
            return {"type": "boolean"}
        case Const(value=value):
            return {"const": value}
        case ListOf():
            out = {"type": "array", "items": _shape(shape.item, defs)}
            if shape.min_items:
                out["minItems"] = shape.min_items
            if shape.max_items is not None:
                out["maxItems"] = shape.max_items
            return out
        case Obj(cls=cls):
            if cls.__name__ not in defs:
                defs[cls.__name__] = {}  # placeholder: a class may refer to itself
                defs[cls.__name__] = _object(cls, defs)
            return {"$ref": f"#/$defs/{cls.__name__}"}
        case OneOf(options=options):
            return {"oneOf": [_shape(option, defs) for option in options]}
        case Nullable(shape=inner):
            return {"oneOf": [_shape(inner, defs), {"type": "null"}]}
    raise TypeError(shape)
