"""The spec file format (timelines as files; the use cases against the database are
rendercli.services.specs): the v1 spec format, its JSON Schema, loading with positions,
placeholders, data rows for batches, and the media path rules.

Modules, each with one job:

- ``shapes``: the building blocks of the one definition (strings, numbers, lists, ...).
- ``model``: the spec as frozen dataclasses; their field metadata *is* the definition.
- ``schema``: the JSON Schema (draft 2020-12), generated from ``model``.
- ``nodes``: YAML and JSON text to a tree of values that remember line and column.
- ``loader``: that tree checked against ``model``, every problem collected.
- ``template``: ``{{ field }}`` placeholders.
- ``fill``: a loaded spec filled in from one data row (final texts).
- ``batch_rows``: data rows (CSV, JSON, NDJSON) for batches (not ``rendercli.db.rows``).
- ``media``: where media paths may point, and probing them with the ``asset add`` gate.
- ``check``: all of the above for ``rendercli spec validate``.
- ``problems``: a problem with its file, line and column; reading a source file.

Nothing here touches the database; importing the package loads nothing heavy.
"""
