"""``rendercli apply``: make a project match a spec file, all or nothing.

1. **Prepare** (no database): read the spec, fill its placeholders (from a data row, or
   none), resolve and probe every file as ``spec validate`` does, and hash each file
   (``files``: opened as validated, hashes remembered). Any problem stops here with
   every problem listed, exit 2.
2. **Plan** (one read): the project's rows against the spec's items (``plan``). A dry
   run stops here. So does a spec that matches: nothing is written, not even the
   project's ``updated_at``.
3. **Stage**: files whose content storage does not hold yet are copied from a
   descriptor opened as validated; each copy's SHA-256 must be the planned one. Every
   new file is probed as ``asset add`` probes it (the copy, or the stored object).
4. **Apply** (one transaction, the project locked): the plan is made again from the
   locked rows, then removes, updates, moves and adds, positions renumbered, and the
   engine's timeline check. Any failure rolls everything back and removes the objects
   this apply placed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rendercli import storage
from rendercli.db.ids import new_id
from rendercli.db.rows import Inserts, Rows, integrity_error
from rendercli.errors import Conflict, InvalidInput
from rendercli.media import ingest
from rendercli.media.fonts import looks_like_font, probe_font, read_head
from rendercli.media.hash_memo import HashMemo, default_memo
from rendercli.media.info import stored_fields
from rendercli.media.ingest import probe_copy
from rendercli.render.timeline import DEFAULT_FIT
from rendercli.repositories import items as item_rows
from rendercli.repositories import projects as project_rows
from rendercli.repositories.items import TitleView
from rendercli.repositories.projects import ProjectRow
from rendercli.services.assets import remove_unreferenced_objects
from rendercli.services.projects import ensure_not_rendering, validate_name
from rendercli.services.renders.timeline import check_timeline
from rendercli.services.specs import state
from rendercli.services.specs.export import HASH_PREFIX
from rendercli.services.specs.files import FileFacts, file_facts, open_validated
from rendercli.services.specs.plan import Item, Plan, make_plan
from rendercli.services.unit_of_work import UnitOfWork
from rendercli.services.upkeep.sweeps import database_fingerprint
from rendercli.services.uploads import UploadProgress, publish_objects
from rendercli.specfile import media
from rendercli.specfile.media import spec_text
from rendercli.specfile.problems import Problem, SpecInvalid

if TYPE_CHECKING:
    from rendercli.media.info import MediaInfo
    from rendercli.media.ingest import Limits
    from rendercli.repositories.items import ItemRow
    from rendercli.specfile.loader import LoadedSpec
    from rendercli.specfile.media import Prober
    from rendercli.specfile.model import Spec
    from rendercli.storage import StagedFile, StoredFile

FieldPath = tuple[Any, ...]


@dataclass
class Prepared:
    """A spec ready to plan: filled in, its files checked and hashed."""

    file: str
    spec: Spec  # filled in
    project: str  # the project's name
    desired: dict[str, list[Item]]
    files: dict[Path, FileFacts]
    hashed_bytes: int = 0  # bytes read to hash (files not in the hash memo)


def project_name(given: str | None, spec: Spec, spec_file: str) -> str:
    """--project, else the spec's ``project``, else the spec file's name without suffix."""
    name = given or spec.project or Path(spec_file).stem
    return validate_name(name)


# SHA-256 -> (size, name) of content stored in the user's projects, or None
Stored = Callable[[str], "tuple[Path, int, str] | None"]


def prepare(path: Path, *, project: str | None = None, allow_outside: bool = False,
            prober: Prober | None = None, cache: HashMemo | None = None,
            stored: Stored | None = None, values: Mapping[str, str] | None = None
            ) -> Prepared:
    """Read, check and hash the spec at ``path``, its placeholders filled from ``values``
    (``--set FIELD=VALUE``, the same substitution as a batch's rows); SpecInvalid with
    every problem."""
    from rendercli.specfile.loader import load_spec

    try:
        loaded = load_spec(path)
    except SpecInvalid as exc:  # with the media problems of what did parse
        from rendercli.specfile.check import with_media_problems
        from rendercli.specfile.media import Prober

        raise with_media_problems(exc, allow_outside, prober or Prober()) from None
    return prepare_loaded(loaded, values or {}, project=project,
                          allow_outside=allow_outside, prober=prober, cache=cache,
                          stored=stored)


def prepare_loaded(loaded: LoadedSpec, values: Mapping[str, str | None], *,
                   project: str | None = None, allow_outside: bool = False,
                   prober: Prober | None = None, cache: HashMemo | None = None,
                   stored: Stored | None = None, row_problem: Any = None,
                   sites: list[Any] | None = None) -> Prepared:
    """A loaded spec filled from ``values`` (a data row, or ``{}``), checked and hashed.

    A path ``sha256:<hex>`` (``project export --by-hash``) names content the user already
    has in one of their projects: ``stored(hex)`` gives its size and name, or None if they have
    none (then it is a problem, as for a missing file). Problems are reported in the
    spec file (or through ``row_problem(where, message)``, for a batch's rows) and raised
    together as SpecInvalid.
    """
    from rendercli.specfile.check import unknown_fields, with_set_hint
    from rendercli.specfile.fill import fill, template_sites

    prober = prober or media.Prober(memory=cache)
    problems: list[Problem] = []

    def report(where: FieldPath, message: str) -> None:
        problems.append(row_problem(where, message) if row_problem is not None
                        else loaded.problem(where, message))

    def missing(where: FieldPath, message: str) -> None:
        report(where, with_set_hint(message) if row_problem is None else message)

    if sites is None:
        sites = template_sites(loaded.spec)
    if row_problem is None:  # --set: a field the spec does not use is a typo
        names = [name for site in sites for name in site.fields]
        problems += unknown_fields(loaded, names, values)  # type: ignore[arg-type]
    filled = fill(loaded, sites, values, missing)
    if filled is None or problems:
        raise SpecInvalid(sorted(set(problems)))
    resolved: dict[FieldPath, Path] = {}
    by_hash: dict[Path, tuple[FileFacts, str]] = {}
    for where, text in media.path_fields(filled):
        try:
            if media.STORED_REF.fullmatch(text):
                resolved[where] = _stored_path(text[len(HASH_PREFIX):], stored, by_hash)
            else:
                resolved[where] = media.resolve(loaded.base_dir, text,
                                                allow_outside=allow_outside)
        except ValueError as exc:
            report(where, str(exc))
    media.check_media(filled, resolved, prober, report)
    _check_fonts(filled, resolved, report)
    if problems:
        raise SpecInvalid(sorted(set(problems)))
    facts: dict[Path, FileFacts] = {path: known[0] for path, known in by_hash.items()}
    hashed = 0
    cache = cache or HashMemo(None)
    for where, path in resolved.items():
        if path in facts:
            continue
        try:
            facts[path] = file_facts(path, media.spec_text(filled, where), cache)
        except InvalidInput as exc:
            report(where, exc.message)
            continue
        hashed += facts[path].size if facts[path].hashed else 0
    if problems:
        raise SpecInvalid(sorted(set(problems)))
    sources = {}
    for where, path in resolved.items():
        info = None if where[-1] == "font" else prober(path)
        sources[where] = state.MediaSource(path, media.spec_text(filled, where),
                                           facts[path].sha256, facts[path].size,
                                           info if not isinstance(info, str) else None,
                                           by_hash[path][1] if path in by_hash else None)
    try:
        name = project_name(project, filled, loaded.file)
    except InvalidInput as exc:
        report(("project",), exc.message)
        raise SpecInvalid(problems) from None
    return Prepared(loaded.file, filled, name, state.desired(filled, sources), facts, hashed)


def _stored_path(sha: str, stored: Stored | None,
                 known: dict[Path, tuple[FileFacts, str]]) -> Path:
    """The storage object of content the user holds (``sha256:<hex>`` in a spec)."""
    found = stored(sha) if stored is not None else None
    if found is None or not found[0].is_file():
        raise ValueError(f"no stored file with content sha256:{sha[:12]}\u2026 in your projects")
    path, size, name = found
    known[path] = (FileFacts(path, sha, size, hashed=False), name)
    return path


def apply_file(uow: UnitOfWork, user_id: str, path: Path, *, project: str | None = None,
               allow_outside: bool = False, values: Mapping[str, str] | None = None,
               dry_run: bool = False, cache: HashMemo | None = None,
               uploads: UploadProgress | None = None) -> tuple[Prepared, Applied]:
    """``rendercli apply``: read, check and hash the spec file at ``path`` (the machine's
    hash memo unless ``cache``; SpecInvalid with every problem), then make the user's
    project match it (:func:`apply`)."""
    prepared = prepare(path, project=project, allow_outside=allow_outside,
                       cache=cache or default_memo(), stored=stored_lookup(uow, user_id),
                       values=values)
    return prepared, apply(uow, user_id, prepared, dry_run=dry_run, uploads=uploads)


def stored_lookup(uow: UnitOfWork, user_id: str) -> Stored:
    """``stored`` for :func:`prepare`: content in the user's projects, by SHA-256 (its
    object in the unit of work's storage, size and name)."""
    settings = uow.settings

    def size_of(sha: str) -> tuple[Path, int, str] | None:
        with uow:
            found = item_rows.stored_content(uow.rows, user_id, sha)
        if found is None:
            return None
        path = storage.object_path(settings.storage_dir, sha)
        if settings.storage_url is not None:
            from rendercli.errors import ObjectMissing
            from rendercli.objectstore import object_name, open_store

            with contextlib.suppress(ObjectMissing):  # then "no stored file", for prepare
                path = open_store(settings).localize(object_name(sha), sha256=sha)
        return (path, *found)
    return size_of


def _check_fonts(spec: Spec, resolved: Mapping[FieldPath, Path], report: Any) -> None:
    """Font files must be fonts (media are probed by ``check_media``)."""
    seen: dict[Path, str | None] = {}
    for where, path in resolved.items():
        if where[-1] != "font":
            continue
        if path not in seen:
            try:
                if not looks_like_font(read_head(path, "file")):
                    seen[path] = "not a TTF or OTF font"
                else:
                    probe_font(path, display_name="file")
                    seen[path] = None
            except InvalidInput as exc:
                seen[path] = exc.message.removeprefix("file: ")
        if seen[path] is not None:
            report(where, f"{spec_text(spec, where)!r}: {seen[path]}")


# ---------------------------------------------------------------- plan


def plan_for(rows: Rows, project: ProjectRow | None, prepared: Prepared) -> Plan:
    """What applying ``prepared`` to ``project`` (None: a new one) would change."""
    items = item_rows.read_items(rows, project.id) if project is not None else []
    return make_plan(prepared.project, project.id if project else None,
                     state.current(items, (project.fit if project else None) or DEFAULT_FIT),
                     prepared.desired)


def plan(uow: UnitOfWork, user_id: str, prepared: Prepared) -> Plan:
    """What applying would change (reads only: an unchanged spec writes nothing)."""
    with uow:
        found = project_rows.projects_named(uow.rows, user_id, [prepared.project])
        return plan_for(uow.rows, found.get(prepared.project), prepared)


# ---------------------------------------------------------------- apply


@dataclass
class Applied:
    plan: Plan  # as applied (made again under the lock)
    project_id: str | None  # None only for a dry run of a new project
    applied: bool  # False: a dry run, or nothing differed
    staged_bytes: int = 0  # bytes copied into storage
    uploaded_bytes: int = 0  # bytes sent to the bucket (RENDERCLI_STORAGE_URL)
    stats: dict[str, int] = field(default_factory=dict)


def apply(uow: UnitOfWork, user_id: str, prepared: Prepared, *,
          dry_run: bool = False, uploads: UploadProgress | None = None) -> Applied:
    """Make the user's project (created if missing) match ``prepared``.

    Nothing is written when nothing differs or on a dry run. Otherwise everything is
    applied in one transaction, or nothing is: a file rejected by the probe, a timeline
    the engine refuses, or a render in progress (when items would be removed) leaves
    the project as it was.
    """
    first = plan(uow, user_id, prepared)
    if dry_run or not first.changed:
        return Applied(first, first.project_id, applied=False)
    return apply_many(uow, user_id, [prepared], [first], uploads=uploads)[0][0]


# Called with each project as it is found (or made, not yet written) under the lock, and
# True if this apply makes it: may refuse (raise) or set its spec_origin.
Claim = Callable[[ProjectRow, bool], None]
# Called in the same transaction once every project is applied, before the commit.
Then = Callable[[UnitOfWork, "list[tuple[Applied, ProjectRow]]"], None]


def apply_many(uow: UnitOfWork, user_id: str, prepared: Sequence[Prepared],
               plans: Sequence[Plan], *, claim: Claim | None = None,
               then: Then | None = None, uploads: UploadProgress | None = None
               ) -> list[tuple[Applied, ProjectRow]]:
    """Apply several specs (``plans``: what ``plan`` gave for each) in one transaction:
    every project changes, or none does (``render batch``'s rows).

    Files are stored once however many specs use them. With ``then``, the transaction
    is committed even if nothing differed (``then`` writes too), and the timelines are
    left for ``then`` to check (`render submit`'s checks, stricter than apply's).
    With a bucket (RENDERCLI_STORAGE_URL), every file the new rows use is uploaded
    unless the bucket has it, before the transaction (``uploads`` hears the progress).
    """
    settings = uow.settings
    limits = ingest.Limits(max_file_size=settings.max_file_size,
                           max_duration=settings.max_duration,
                           max_dimension=settings.max_dimension)
    storage.clean_temp_files(settings.storage_dir, older_than=settings.job_timeout + 3600)
    storage.mark_database(settings.storage_dir, database_fingerprint(settings.database_url))
    needed: dict[str, Item] = {}
    for each in plans:
        for sha, item in _needed(each).items():
            needed.setdefault(sha, item)
    staged: list[StagedFile] = []
    stored: list[StoredFile] = []
    freed: list[str | None] = []
    try:
        with storage.ingest_guard(settings.storage_dir, settings.ingest_guard_wait):
            infos = _store_files(needed, settings.storage_dir, limits, staged)
            while staged:  # one by one, so a failure leaves `stored` exact for the cleanup
                stored.append(storage.commit_staged(staged[0]))
                staged.pop(0)
            uploaded = publish_objects(uow.settings, {
                sha: storage.object_path(settings.storage_dir, sha) for sha in needed},
                progress=uploads)
            with uow:
                new = Inserts(uow.rows)
                found = project_rows.projects_named(new, user_id, [p.project for p in prepared])
                item_rows.lock_projects(new, *(p.id for p in found.values()))
                items = item_rows.read_items_of(new, [p.id for p in found.values()])
                done = []
                for one in prepared:
                    project = found.get(one.project)
                    result, project, gone = _apply_locked(
                        uow, user_id, one, project, items.get(project.id, []) if project
                        else [], infos, new, claim, check=then is None)
                    done.append((result, project))
                    freed += gone
                _flush(new)
                if then is not None:
                    then(uow, done)
                if then is not None or any(result.applied for result, _ in done):
                    uow.commit()
    except BaseException:
        for item in staged:
            storage.discard_staged(item)
        created = [s for s in stored if s.created]
        if created:
            remove_unreferenced_objects(uow, [s.key for s in created],
                                        reason="apply failed before its rows were committed")
        raise
    staged_bytes = sum(s.size for s in stored if s.created)
    for result, _ in done[:1]:
        result.staged_bytes = staged_bytes  # counted once, on the first
        result.uploaded_bytes = uploaded.bytes
    if freed:
        remove_unreferenced_objects(uow, freed, reason="apply replaced the last asset using it")
    return done


def _needed(plan: Plan) -> dict[str, Item]:
    """The files the plan's new rows are made from, by SHA-256."""
    needed: dict[str, Item] = {}
    for op in plan.ops:
        item = op.item
        if item is None or item.kind == "title":
            continue
        if op.op == "add" or (op.current is not None and op.current.key != item.key):
            needed.setdefault(item.key[1], item)
    return needed


def _store_files(needed: Mapping[str, Item], storage_dir: Path,
                 limits: Limits, staged: list[StagedFile]) -> dict[str, MediaInfo]:
    """Make sure storage holds every needed file (staging the missing ones into
    ``staged``) and probe what is stored, as `asset add` does: the copy or the object,
    never the source. Call it holding storage's ingest guard."""
    infos: dict[str, MediaInfo] = {}
    for sha, item in needed.items():
        source = item.source
        shown = item.name
        target = storage.object_path(storage_dir, sha)
        if target.is_file():
            infos[sha] = _probe_stored(target, shown, limits)
        else:
            with open_validated(source.path, shown) as (fd, _st):
                os.lseek(fd, 0, os.SEEK_SET)
                copy = storage.stage_open_file(fd, storage_dir, display_name=shown,
                                               max_file_size=limits.max_file_size)
            staged.append(copy)
            if copy.sha256 != sha:
                raise InvalidInput(f"{shown}: the file changed while it was being applied; "
                                   "run the command again")
            infos[sha] = _probe_stored(copy.path, shown, limits)
        if infos[sha].kind != item.kind:
            raise InvalidInput(f"{shown}: the file changed while it was being applied (it "
                               f"is now {infos[sha].kind}); run the command again")
    return infos


def _probe_stored(path: Path, shown: str, limits: Limits) -> MediaInfo:
    return probe_copy(path, shown, limits)


def _apply_locked(uow: UnitOfWork, user_id: str, prepared: Prepared,
                  project: ProjectRow | None, items: list[ItemRow],
                  infos: Mapping[str, MediaInfo], new: Inserts,
                  claim: Claim | None = None, check: bool = True
                  ) -> tuple[Applied, ProjectRow, list[str | None]]:
    """Apply one spec to its project (``project`` and its ``items`` as read under the
    lock; None: made here). New rows go to ``new``, written by the caller."""
    created = project is None
    if project is None:
        project = ProjectRow(new_id(), prepared.project)
        if claim is not None:
            claim(project, True)
        project_rows.insert_project(new, user_id, project)
        uow.record_event("project.created", user_id, project_id=project.id)
    else:
        origin = project.spec_origin
        if claim is not None:
            claim(project, False)
        if project.spec_origin != origin:
            project_rows.update_project(new, project.id, spec_origin=project.spec_origin)
    again = make_plan(prepared.project, None if created else project.id,
                      state.current(items, project.fit or DEFAULT_FIT), prepared.desired)
    if not again.changed:
        return Applied(again, project.id, applied=False), project, []
    if any(op.op == "remove" for op in again.ops):
        ensure_not_rendering(new, project.id, project.name, "remove its items")
    freed = _execute(new, project, items, again, infos,
                     len(prepared.desired["timeline"]))
    if check:  # else the caller checks it (a batch: on the frame grid, as it submits)
        _flush(new)
        check_timeline(uow, project.id)
    uow.record_event("spec.applied", user_id, project_id=project.id, **again.counts())
    return Applied(again, project.id, applied=True, stats=again.counts()), project, freed


def _flush(new: Inserts) -> None:
    """Write the new rows; a project name taken meanwhile is a Conflict."""
    created = [project["name"] for project in new.pending.get("projects", [])]
    try:
        new.flush()
    except Exception as exc:
        if not integrity_error(exc) or not created:
            raise
        names = ", ".join(repr(name) for name in created[:5])
        raise Conflict(f"project {names} was created by another command meanwhile: run "
                       "the command again") from None


def _execute(new: Inserts, project: ProjectRow, items: list[ItemRow], plan: Plan,
             infos: Mapping[str, MediaInfo], timeline_count: int) -> list[str | None]:
    """Carry out ``plan`` on the locked project's ``items`` (new rows wait in ``new``);
    the storage keys it stops using."""
    by_id = {row.id: row for row in items}
    freed: list[str | None] = []

    def info_for(item: Item) -> MediaInfo | dict[str, Any]:
        sha = item.key[1]
        if sha in infos:
            return infos[sha]
        for row in items:  # the plan changed under the lock: a row may hold the facts
            if row.sha256 == sha and row.kind == item.kind:
                return {c: getattr(row, c) for c in _probed_columns()}
        raise Conflict("the project changed while this apply was running: run it again")

    font_ids: dict[str, str] = {}
    for pair in plan.pairs["fonts"]:
        font_ids[pair.desired.key[1]] = pair.current.row_id  # type: ignore[assignment]
    for op in plan.ops:
        if op.list == "fonts" and op.op == "add":
            assert op.item is not None
            font_ids[op.item.key[1]] = _add_row(new, project, op.item, info_for(op.item),
                                                None)
    if any(op.op != "add" for op in plan.ops):
        _flush(new)  # rows changed below may point to the new fonts

    def font_id(sha: str | None) -> str | None:
        return None if sha is None else font_ids[sha]

    removed_fonts = []
    for op in plan.ops:
        if op.op != "remove":
            continue
        row = by_id[op.id]  # type: ignore[index]
        if row.storage_key is not None:
            storage.check_digest(row.storage_key)  # a tampered row: refuse, remove nothing
        if op.list == "fonts":
            removed_fonts.append(row)
            continue
        freed.append(row.storage_key)
        item_rows.delete_item(new, row.id)
    offset = {"timeline": 0, "music": timeline_count}
    changed = {op.id for op in plan.ops if op.op in ("update", "move")}
    for name in ("timeline", "music"):
        for pair in plan.pairs[name]:
            row = by_id[pair.current.row_id]  # type: ignore[index]
            position = offset[name] + pair.new_position
            if row.id not in changed:
                if row.position != position:
                    item_rows.update_item(new, row, {"position": position})
                continue
            values: dict[str, Any] = {"position": position}
            if pair.current.key != pair.desired.key and pair.desired.kind != "title":
                freed.append(row.storage_key)
                values.update(_file_columns(pair.desired, info_for(pair.desired)))
            _write(new, row, pair.desired, font_id, project.fit, values)
    for op in plan.ops:
        if op.op != "add" or op.list == "fonts":
            continue
        assert op.item is not None and op.position is not None
        item = op.item
        info = None if item.kind == "title" else info_for(item)
        _add_row(new, project, item, info, offset[op.list] + op.position, font_id)
    if removed_fonts:  # once the rows using them point elsewhere
        _flush(new)
    for row in removed_fonts:
        freed.append(row.storage_key)
        item_rows.delete_item(new, row.id)
    return freed


def _write(new: Inserts, row: ItemRow, item: Item,
           font_id: Callable[[str | None], str | None], default_fit: str | None,
           values: Mapping[str, Any]) -> None:
    """Set a row's columns, card and texts from ``item``."""
    change = state.changes(row, item, font_id, default_fit)
    if change.card is not None:
        row.title = TitleView(**change.card)
    item_rows.update_item(new, row, {**values, **change.columns})
    if change.texts is not None:
        item_rows.replace_texts(new, row.id, change.texts)


def _probed_columns() -> list[str]:
    return [f.name for f in stored_fields()]


def _file_columns(item: Item, info: MediaInfo | Mapping[str, Any]) -> dict[str, Any]:
    """The columns of an item's file: what the probe found, the content, its name."""
    sha = item.key[1]
    columns = dict(info) if isinstance(info, Mapping) else info.columns()
    return {**columns, "sha256": sha, "storage_key": sha, "size_bytes": item.source.size,
            "display_name": item.name}


def _add_row(new: Inserts, project: ProjectRow, item: Item,
             info: MediaInfo | Mapping[str, Any] | None, position: int | None,
             font_id: Callable[[str | None], str | None] | None = None) -> str:
    """A new item row (a font: no settings; a title: no file); its id."""
    values = ({"kind": "title", "display_name": item.name} if info is None
              else _file_columns(item, info))
    change = None if font_id is None else state.changes(None, item, font_id, project.fit)
    row = item_rows.new_item({"project_id": project.id, "position": position, **values,
                              **(change.columns if change else {})},
                             TitleView(**change.card) if change and change.card else None)
    item_rows.insert_item(new, row)
    if change is not None and change.texts:
        item_rows.replace_texts(new, row.id, change.texts, had=False)
    return row.id
