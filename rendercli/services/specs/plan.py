"""The plan of an apply: what must change for a project's items to match a spec's.

Pure data, no database. Both sides are lists of :class:`Item` (the project's rows, and
the spec's entries), one list each for the timeline, the music and the fonts.

Identity is by content and order. Each item has a key: media its file's SHA-256 and
kind, a title card its text, a font its SHA-256. The two key sequences are aligned with
``difflib.SequenceMatcher``:

- equal blocks pair items up; only their settings are compared (``update`` if any
  differ);
- a replace block of equal length on both sides pairs items of the same sort in order
  (a title whose text changed, a clip swapped for another clip): an ``update`` that
  names the new text or file;
- everything else is removed or added, except that a removed item and an added item
  with the same key (the nth removed occurrence with the nth added one) are the same
  item ``move``\\ d, keeping its row;
- repeated items (the same clip twice) match by occurrence, in order.

An item that only shifts because something before it was added or removed is not an
operation. Fonts have no order: they are added and removed as a set.
"""

from __future__ import annotations

import difflib
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LISTS = ("timeline", "music", "fonts")


@dataclass(frozen=True)
class Item:
    """One item of one side: its identity, kind, a name for people, and the settings
    compared between the sides (JSON values)."""

    key: tuple[Any, ...]
    kind: str  # video, image, audio, title or font
    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    row_id: str | None = None  # the project's side: the asset id
    source: Any = None  # the spec's side: what the row is built from

    @property
    def sort(self) -> str:
        """Items of one sort may replace each other in place."""
        return self.kind


@dataclass(frozen=True)
class Change:
    old: Any
    new: Any


@dataclass
class Op:
    """One operation of a plan. ``position`` is 1-based within its list (timeline or
    music): where the item ends up, or for ``remove`` where it was."""

    op: str  # add, update, move or remove
    list: str  # timeline, music or fonts
    kind: str
    name: str
    position: int | None
    from_position: int | None = None  # update and move: where it was
    id: str | None = None  # the asset's id (update, move, remove)
    changes: dict[str, Change] = field(default_factory=dict)
    item: Item | None = None  # the spec's side (add, update, move)
    current: Item | None = None  # the project's side (update, move, remove)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "list": self.list, "kind": self.kind,
                                "name": self.name, "position": self.position}
        if self.op in ("update", "move"):
            data["from_position"] = self.from_position
        if self.id is not None:
            data["id"] = self.id
        if self.op == "add" and self.item is not None:
            data["settings"] = dict(self.item.settings)
        if self.changes:
            data["changes"] = {k: {"old": c.old, "new": c.new} for k, c in self.changes.items()}
        return data


@dataclass
class Pair:
    """An item of the project that stays, with its place on both sides."""

    current: Item
    desired: Item
    old_position: int
    new_position: int


@dataclass
class Plan:
    project: str  # the project's name
    project_id: str | None  # None: it does not exist yet
    ops: list[Op]
    pairs: dict[str, list[Pair]]  # per list: every item that stays

    @property
    def create(self) -> bool:
        return self.project_id is None

    @property
    def changed(self) -> bool:
        return self.create or bool(self.ops)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("add", "update", "move", "remove"), 0)
        for op in self.ops:
            counts[op.op] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "project_id": self.project_id,
                "create": self.create, "changed": self.changed, "counts": self.counts(),
                "ops": [op.to_json() for op in self.ops]}


def same(a: Any, b: Any) -> bool:
    """Equal settings: numbers to the microsecond (seconds and gains are stored as
    floats), lists and mappings item by item."""
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(
            a, bool) and not isinstance(b, bool):
        return round(float(a), 6) == round(float(b), 6)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) \
        else a == b


def changes(current: Item, desired: Item) -> dict[str, Change]:
    """The settings (and identity) that differ, old and new."""
    found: dict[str, Change] = {}
    if current.key != desired.key:
        found["title" if desired.kind == "title" else "media"] = Change(current.name,
                                                                        desired.name)
    for name in dict.fromkeys([*current.settings, *desired.settings]):
        old, new = current.settings.get(name), desired.settings.get(name)
        if not same(old, new):
            found[name] = Change(old, new)
    return found


def diff_list(name: str, current: Sequence[Item], desired: Sequence[Item]
              ) -> tuple[list[Op], list[Pair]]:
    """The operations that turn ``current`` into ``desired`` (one ordered list)."""
    matcher = difflib.SequenceMatcher(None, [c.key for c in current],
                                      [d.key for d in desired], autojunk=False)
    paired: list[tuple[int, int]] = []
    removed: list[int] = []
    added: list[int] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                if current[i].sort == desired[j].sort:
                    paired.append((i, j))
                else:
                    removed.append(i)
                    added.append(j)
        else:
            removed.extend(range(i1, i2))
            added.extend(range(j1, j2))
    waiting: dict[tuple[Any, ...], deque[int]] = defaultdict(deque)
    for i in removed:
        waiting[current[i].key].append(i)
    moved: list[tuple[int, int]] = []
    still_added = []
    for j in added:
        queue = waiting.get(desired[j].key)
        if queue:
            moved.append((queue.popleft(), j))
        else:
            still_added.append(j)
    gone = sorted(set(removed) - {i for i, _ in moved})

    ops: list[Op] = []
    pairs = []
    for i in gone:
        c = current[i]
        ops.append(Op("remove", name, c.kind, c.name, i + 1, id=c.row_id, current=c))
    for i, j in sorted(paired + moved, key=lambda p: p[1]):
        c, d = current[i], desired[j]
        pairs.append(Pair(c, d, i + 1, j + 1))
        found = changes(c, d)
        if (i, j) in moved:
            ops.append(Op("move", name, d.kind, d.name, j + 1, i + 1, c.row_id, found, d, c))
        elif found:
            ops.append(Op("update", name, d.kind, d.name, j + 1, i + 1, c.row_id, found, d, c))
    for j in still_added:
        d = desired[j]
        ops.append(Op("add", name, d.kind, d.name, j + 1, item=d))
    order = {"remove": 0, "move": 1, "update": 1, "add": 1}
    ops.sort(key=lambda op: (order[op.op], op.position or 0))
    return ops, pairs


def diff_set(name: str, current: Sequence[Item], desired: Sequence[Item]
             ) -> tuple[list[Op], list[Pair]]:
    """Unordered items (fonts): add the missing keys, remove the extra ones."""
    have: dict[tuple[Any, ...], Item] = {}
    for c in current:
        have.setdefault(c.key, c)
    want: dict[tuple[Any, ...], Item] = {}
    for d in desired:
        want.setdefault(d.key, d)
    ops = [Op("remove", name, c.kind, c.name, None, id=c.row_id, current=c)
           for c in current if c.key not in want or have[c.key] is not c]
    ops += [Op("add", name, d.kind, d.name, None, item=d) for k, d in want.items()
            if k not in have]
    pairs = [Pair(have[k], d, 0, 0) for k, d in want.items() if k in have]
    return ops, pairs


def make_plan(project: str, project_id: str | None,
              current: Mapping[str, Sequence[Item]], desired: Mapping[str, Sequence[Item]]
              ) -> Plan:
    """The whole plan: timeline and music in order, fonts as a set."""
    ops: list[Op] = []
    pairs: dict[str, list[Pair]] = {}
    for name in LISTS:
        differ = diff_set if name == "fonts" else diff_list
        list_ops, pairs[name] = differ(name, current.get(name, ()), desired.get(name, ()))
        ops += list_ops
    # Removals first, as they are carried out; then each list in order.
    ops.sort(key=lambda op: (op.op != "remove", LISTS.index(op.list), op.position or 0))
    return Plan(project, project_id, ops, pairs)
