"""``rendercli render submit --spec FILE``: apply a spec file, then render its project.

Three transactions, as `apply` and `render submit` each take them: the content the user
already holds (for ``sha256:`` paths), the apply, the submit. The spec's ``output:``
settings are the render's, except the options the caller gave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli.services.renders.submit import RenderRequest, start
from rendercli.services.specs.apply import apply_file
from rendercli.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from rendercli.services.renders.submit import Started
    from rendercli.services.specs.apply import Applied, Prepared
    from rendercli.services.uploads import UploadProgress

# The request's fields a spec's output: sets (the same names there).
OUTPUT_FIELDS = ("preset", "format", "fps", "quality", "loudness")


@dataclass
class SpecSubmitted:
    prepared: Prepared
    applied: Applied
    started: Started


def request_for(prepared: Prepared, given: Mapping[str, Any], *,
                use_cache: bool = True) -> RenderRequest:
    """The render request of a spec: its ``output:`` settings, with the options in
    ``given`` (field -> value, None: not given) standing in for them."""
    out = prepared.spec.output
    return RenderRequest(use_cache=use_cache, **{
        name: getattr(out, name) if given.get(name) is None else given[name]
        for name in OUTPUT_FIELDS})


def submit_spec(user_id: str, spec_path: Path, *, project: str | None = None,
                allow_outside: bool = False, values: Mapping[str, str] | None = None,
                given: Mapping[str, Any] | None = None, use_cache: bool = True,
                on_applied: Callable[[Applied], None] | None = None,
                before_start: Callable[[Prepared], None] | None = None,
                uow: UnitOfWork,
                uploads: UploadProgress | None = None) -> SpecSubmitted:
    """Make the user's project match the spec at ``spec_path`` (``apply``; SpecInvalid
    with every problem), then submit its render (``renders.submit.start``).
    ``on_applied`` hears what the apply did before the render is submitted;
    ``before_start`` sees the spec as filled in (its ``output.name``) and may refuse
    (raise) before any job exists."""
    prepared, applied = apply_file(uow, user_id, spec_path, project=project,
                                   allow_outside=allow_outside, values=values,
                                   uploads=uploads)
    if on_applied is not None:
        on_applied(applied)
    assert applied.project_id is not None  # applied for real: the project exists
    if before_start is not None:
        before_start(prepared)
    request = request_for(prepared, given or {}, use_cache=use_cache)
    return SpecSubmitted(prepared, applied, start(uow, user_id, applied.project_id, request))
