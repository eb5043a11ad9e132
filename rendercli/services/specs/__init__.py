"""Timelines as files, against the database: apply a spec to a project, export one, and
render batches from data rows (the format itself is rendercli.specfile; no database there).

- ``files``: the files a spec names, opened as validated and hashed once while unchanged.
- ``plan``: what must change for a project to match a spec (pure: alignment and diff).
- ``state``: both sides of a plan (a spec's entries, a project's rows) and back to columns.
- ``apply``: prepare (check and hash), plan, stage, and one locked transaction.
- ``export``: a project as a spec (files next to it, or by content hash).
- ``submit``: ``render submit --spec``: apply, then render with the spec's output settings.
- ``batch``: one project and one render per data row, all checked before any is queued;
  then rendered here or followed in the farm (``render_batch``).
"""
