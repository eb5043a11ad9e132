"""The spec use cases as services: plain SQL only, callable without the CLI, one hash memo."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from rendercli.errors import InvalidInput
from tests.conftest import Account
from tests.test_batch import SPEC, make_batch_media

SPECS = Path(__file__).resolve().parent.parent / "rendercli" / "services" / "specs"


def test_the_spec_use_cases_read_and_write_through_plain_sql_only() -> None:
    for module in sorted(SPECS.glob("*.py")):
        text = module.read_text(encoding="utf-8")
        for banned in (r"\bsqlalchemy\b", r"rendercli\.db\.models", r"\.session\b",
                       r"\bselect\("):
            assert not re.search(banned, text), (module.name, banned)


def test_a_file_apply_hashed_is_not_hashed_again_by_the_render_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rendercli.media.hash_memo import default_memo
    from rendercli.render import verify
    from rendercli.services.specs.files import file_facts

    data = tmp_path / "clip.bin"
    data.write_bytes(b"z" * 50_000)
    facts = file_facts(data.resolve(), "clip.bin", default_memo())
    assert facts.hashed and facts.sha256 == hashlib.sha256(b"z" * 50_000).hexdigest()
    hashed: list[Path] = []
    real_hash = verify._hash
    monkeypatch.setattr(verify, "_hash", lambda p: (hashed.append(p), real_hash(p))[1])
    verify.SourceCheck([verify.Source(data, facts.sha256, "'clip.bin'")]).before()
    assert hashed == []  # one memo: the render's check knew it already
    from rendercli.config import get_settings
    from rendercli.media.hash_memo import MEMO_FILE

    assert (get_settings().data_dir / MEMO_FILE).is_file()  # the one file, kept across runs


def test_submit_with_a_spec_takes_the_spec_output_unless_an_option_is_given(
        tmp_path: Path) -> None:
    from rendercli.services.specs.apply import prepare
    from rendercli.services.specs.submit import request_for

    make_batch_media(tmp_path)
    (tmp_path / "video.yaml").write_text(SPEC, encoding="utf-8")
    prepared = prepare(tmp_path / "video.yaml", values={"name": "Ana"})
    spec_side = request_for(prepared, {})
    assert (spec_side.preset, spec_side.fps, spec_side.quality) == ("480p", 10, "draft")
    given = request_for(prepared, {"fps": 24, "preset": None}, use_cache=False)
    assert (given.preset, given.fps, given.quality, given.use_cache) == (
        "480p", 24, "draft", False)


def test_render_batch_runs_without_the_cli(
        alice: Account, tmp_path: Path, database_url: str) -> None:
    from rendercli.services import accounts
    from rendercli.services.specs.batch import render_batch
    from rendercli.services.unit_of_work import UnitOfWork
    from rendercli.specfile.problems import SpecInvalid

    user = accounts.authenticate(UnitOfWork(), alice.token)
    make_batch_media(tmp_path)
    (tmp_path / "video.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "rows.csv").write_text("name\nAna\n", encoding="utf-8")
    heard: list[str] = []
    as_alice = lambda: UnitOfWork(token=alice.token)  # noqa: E731
    run = render_batch(user.id, tmp_path / "video.yaml", tmp_path / "rows.csv",
                       name_field="name", uow_factory=as_alice,
                       checked=lambda batch: heard.append(f"checked {len(batch.rows)}"),
                       submitted=lambda run: heard.append(f"submitted {run.batch_id}"),
                       finished=lambda row, job: heard.append(f"{row.name} {job.status}"))
    assert run.inline and run.ended
    assert heard == ["checked 1", f"submitted {run.batch_id}", "Ana completed"]
    assert [row.job_id for row in run.batch.rows] == [s.job.id for s in run.started]
    (tmp_path / "rows.csv").write_text("name\n\n", encoding="utf-8")  # no name: refused
    with pytest.raises(SpecInvalid):
        render_batch(user.id, tmp_path / "video.yaml", tmp_path / "rows.csv",
                     name_field="name", checked=lambda batch: heard.append("again"),
                     uow_factory=as_alice)
    assert heard[-1] == "Ana completed"
    with pytest.raises(InvalidInput):
        render_batch(user.id, tmp_path / "video.yaml", tmp_path / "missing.csv",
                     uow_factory=as_alice)


def test_a_batch_of_50_rows_sends_as_many_statements_as_one_of_5(
        alice: Account, tmp_path: Path, database_url: str, sessions) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    from rendercli.services import accounts
    from rendercli.services.specs.batch import prepare_batch, submit_batch
    from rendercli.services.unit_of_work import UnitOfWork

    user = accounts.authenticate(UnitOfWork(), alice.token)
    make_batch_media(tmp_path)
    (tmp_path / "video.yaml").write_text(SPEC, encoding="utf-8")
    engine = sessions().get_bind()
    sent: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "events" not in statement:  # analytics, written after the commit
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        counts = []
        for first, rows in ((0, 5), (5, 50)):
            (tmp_path / "rows.csv").write_text(
                "name\n" + "".join(f"guest{first + k}\n" for k in range(rows)),
                encoding="utf-8")
            batch = prepare_batch(tmp_path / "video.yaml", tmp_path / "rows.csv",
                                  name_field="name")
            sent.clear()
            submit_batch(lambda: UnitOfWork(sessions.url, token=alice.token), user.id, batch)
            counts.append(len(sent))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert counts[0] == counts[1] and counts[0] < 30, counts
