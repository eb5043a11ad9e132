"""The plan of an apply (pure: no database): alignment by content and order."""

from __future__ import annotations

from rendercli.services.specs.plan import Item, diff_list, diff_set, make_plan, same


def clip(name: str, row: str | None = None, **settings: object) -> Item:
    return Item(("media", name, "video"), "video", name, settings, row_id=row)


def title(text: str, row: str | None = None, **settings: object) -> Item:
    return Item(("title", text), "title", text, settings, row_id=row)


def summary(ops) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [(op.op, op.name, op.position, op.from_position, sorted(op.changes)) for op in ops]


def test_equal_lists_give_no_operations() -> None:
    current = [clip("a", "1"), title("Hi", "2"), clip("a", "3")]
    ops, pairs = diff_list("timeline", current, [clip("a"), title("Hi"), clip("a")])
    assert ops == []
    assert [p.current.row_id for p in pairs] == ["1", "2", "3"]


def test_a_changed_setting_is_an_update_in_place() -> None:
    ops, _ = diff_list("timeline", [clip("a", "1", trim_end=3.0), clip("b", "2")],
                       [clip("a", trim_end=2.0), clip("b")])
    assert summary(ops) == [("update", "a", 1, 1, ["trim_end"])]
    assert ops[0].id == "1"
    assert (ops[0].changes["trim_end"].old, ops[0].changes["trim_end"].new) == (3.0, 2.0)


def test_insert_and_delete_do_not_move_the_rest() -> None:
    ops, pairs = diff_list("timeline", [clip("a", "1"), clip("b", "2"), clip("c", "3")],
                           [title("New"), clip("a"), clip("c")])
    assert summary(ops) == [("remove", "b", 2, None, []), ("add", "New", 1, None, [])]
    assert [(p.current.row_id, p.new_position) for p in pairs] == [("1", 2), ("3", 3)]


def test_a_reordered_item_is_a_move_that_keeps_its_row() -> None:
    ops, _ = diff_list("timeline", [clip("a", "1"), clip("b", "2"), clip("c", "3")],
                       [clip("c"), clip("a"), clip("b")])
    assert summary(ops) == [("move", "c", 1, 3, [])]
    assert ops[0].id == "3"


def test_a_changed_title_text_is_an_update_of_the_same_row() -> None:
    ops, _ = diff_list("timeline", [title("Hello Ana", "1"), clip("a", "2")],
                       [title("Hello Bo"), clip("a")])
    assert summary(ops) == [("update", "Hello Bo", 1, 1, ["title"])]
    assert ops[0].id == "1"


def test_replacing_across_kinds_is_remove_and_add() -> None:
    ops, _ = diff_list("timeline", [title("Hi", "1"), clip("a", "2")],
                       [clip("z"), clip("a")])
    assert summary(ops) == [("remove", "Hi", 1, None, []), ("add", "z", 1, None, [])]


def test_repeated_clips_match_by_occurrence() -> None:
    current = [clip("a", "1", volume=1.0), clip("b", "2"), clip("a", "3", volume=0.5)]
    ops, _ = diff_list("timeline", current,
                           [clip("a", volume=1.0), clip("b"), clip("a", volume=0.2)])
    assert summary(ops) == [("update", "a", 3, 3, ["volume"])]
    assert ops[0].id == "3"
    ops, _ = diff_list("timeline", current, [clip("b"), clip("a", volume=1.0),
                                             clip("a", volume=0.5)])
    # b and the second a stay in place; the first a moves to the end and takes its volume
    assert summary(ops) == [("update", "a", 2, 3, ["volume"]), ("move", "a", 3, 1, ["volume"])]
    assert [op.id for op in ops] == ["3", "1"]


def test_fonts_are_a_set() -> None:
    font = lambda sha, row=None: Item(("font", sha), "font", sha, row_id=row)  # noqa: E731
    ops, pairs = diff_set("fonts", [font("x", "1"), font("y", "2")], [font("y"), font("z")])
    assert [(op.op, op.name, op.id) for op in ops] == [("remove", "x", "1"), ("add", "z", None)]
    assert [p.current.row_id for p in pairs] == ["2"]


def test_plan_json_and_no_change() -> None:
    plan = make_plan("p", "pid", {"timeline": [clip("a", "1")]}, {"timeline": [clip("a")]})
    assert not plan.changed
    assert plan.to_json() == {"project": "p", "project_id": "pid", "create": False,
                              "changed": False, "counts": {"add": 0, "update": 0, "move": 0,
                                                           "remove": 0}, "ops": []}
    plan = make_plan("p", None, {}, {"timeline": [clip("a", volume=1.0)],
                                     "music": [Item(("media", "s", "audio"), "audio", "s")]})
    assert plan.create and plan.changed
    assert plan.to_json()["ops"] == [
        {"op": "add", "list": "timeline", "kind": "video", "name": "a", "position": 1,
         "settings": {"volume": 1.0}},
        {"op": "add", "list": "music", "kind": "audio", "name": "s", "position": 1,
         "settings": {}},
    ]


def test_numbers_are_compared_to_the_microsecond() -> None:
    assert same(10 ** (-6 / 20), 0.501187) and same(3, 3.0000001)
    assert not same(0.5, 0.501) and not same(True, 1) and not same(None, 0.0)
    assert same([{"at": 0.1 + 0.2}], [{"at": 0.3}]) and not same([1.0], [1.0, 2.0])
    ops, _ = diff_list("timeline", [clip("a", "1", volume=10 ** (-6 / 20))],
                       [clip("a", volume=0.501187)])
    assert ops == []
