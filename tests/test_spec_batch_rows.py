"""Data rows for batches: CSV (BOM and CRLF accepted), JSON and NDJSON, with row numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from rendercli.specfile.batch_rows import load_rows
from rendercli.specfile.problems import SpecInvalid


def problems(path: Path) -> list[str]:
    with pytest.raises(SpecInvalid) as caught:
        load_rows(path, path.name)
    return [str(p) for p in caught.value.problems]


def test_csv_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes('\ufeffname,city\r\nAna,Lisbon\r\n\r\n"Bo, Jr",""\r\nCy\r\n'.encode())
    data = load_rows(path)
    assert data.columns == ("name", "city")
    assert [(r.number, r.line, dict(r.values)) for r in data.rows] == [
        (1, 2, {"name": "Ana", "city": "Lisbon"}),
        (2, 4, {"name": "Bo, Jr", "city": ""}),
        (3, 5, {"name": "Cy", "city": None}),
    ]


def test_csv_with_a_line_break_inside_a_value_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('name,text\nAna,"two\nlines"\nBo,x,extra\n', encoding="utf-8")
    assert problems(path) == ["rows.csv:4:1: row 2: 3 values but the header has 2 columns"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("rows.csv", b"", "rows.csv:1:1: the file is empty"),
        ("rows.csv", b"\r\n\r\n", "rows.csv:1:1: the file is empty: expected a header and rows"),
        ("rows.csv", b"\xef\xbb\xbfname\r\n", "rows.csv:1:1: no rows: the file has a header "
                                            "but no data"),
        ("rows.json", b"[]", "rows.json:1:1: no rows: the list is empty"),
        ("rows.ndjson", b"\n\n", "rows.ndjson:1:1: the file is empty: expected rows"),
        ("rows.txt", b"a\n1\n", "rows.txt: a data file must be .csv, .json or .ndjson"),
        ("rows.csv", b"name,,name\nA,B,C\n", "rows.csv:1:1: column 2 of the header has no name"),
    ],
)
def test_empty_and_odd_files(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert problems(path)[0] == expected


def test_json_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text('[\n  {"name": "Ana", "age": 30, "vip": true, "note": null},\n'
                    '  {"name": "Bo", "score": 1.5}\n]\n', encoding="utf-8")
    data = load_rows(path)
    assert data.columns == ("name", "age", "vip", "note", "score")
    assert [(r.number, r.line, dict(r.values)) for r in data.rows] == [
        (1, 2, {"name": "Ana", "age": "30", "vip": "true", "note": None}),
        (2, 3, {"name": "Bo", "score": "1.5"}),
    ]
    path.write_text('[{"name": "Ana"},\n "Bo",\n {"name": ["x"]}]', encoding="utf-8")
    assert problems(path) == [
        "rows.json:2:2: row 2: expected an object of field values",
        "rows.json:3:11: row 3: field 'name' must be text, a number, a boolean or null",
    ]
    path.write_text('{"name": "Ana"}', encoding="utf-8")
    assert problems(path) == ["rows.json:1:1: expected a list of objects, one per row"]


def test_ndjson_rows_carry_their_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.ndjson"
    path.write_text('{"name": "Ana"}\n\n{"name": "Bo"}\r\n', encoding="utf-8")
    assert [(r.number, r.line, dict(r.values)) for r in load_rows(path).rows] == [
        (1, 1, {"name": "Ana"}), (2, 3, {"name": "Bo"})]
    path.write_text('{"name": "Ana"}\n{"name": "Bo",}\n[1]\n{"name": "Cy"}\n',
                    encoding="utf-8")
    assert problems(path) == [
        "rows.ndjson:2:15: row 2: invalid JSON: Expecting property name enclosed in double "
        "quotes",
        "rows.ndjson:3:1: row 3: expected an object of field values",
    ]


def test_ten_thousand_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("name,photo\n" + "".join(f"person {i},p{i % 7}.png\n"
                                             for i in range(10_000)), encoding="utf-8")
    data = load_rows(path)
    assert len(data.rows) == 10_000
    last = data.rows[-1]
    assert (last.number, last.line, last.values["name"]) == (10_000, 10_001, "person 9999")


def test_ndjson_values_may_hold_unicode_line_separators(tmp_path: Path) -> None:
    # JSON allows U+2028, U+2029 and U+0085 unescaped inside strings (json.dumps with
    # ensure_ascii=False writes them so): they are not line ends of NDJSON.
    path = tmp_path / "rows.ndjson"
    path.write_text('{"name": "Ana\u2028Maria"}\n{"name": "Bo\x85\u2029x"}\n{"name": "Cy"}\n',
                    encoding="utf-8")
    assert [(r.number, r.line, dict(r.values)) for r in load_rows(path).rows] == [
        (1, 1, {"name": "Ana\u2028Maria"}), (2, 2, {"name": "Bo\x85\u2029x"}),
        (3, 3, {"name": "Cy"})]


def test_a_quoted_empty_value_is_a_row_not_a_blank_line(tmp_path: Path) -> None:
    # In a one-column CSV, `""` is a row whose value is empty (an error where it is
    # used), not a blank line to skip: the rows after it keep their numbers.
    path = tmp_path / "rows.csv"
    path.write_text('name\nAna\n\n""\nBo\n', encoding="utf-8")
    assert [(r.number, r.line, dict(r.values)) for r in load_rows(path).rows] == [
        (1, 2, {"name": "Ana"}), (2, 4, {"name": ""}), (3, 5, {"name": "Bo"})]
