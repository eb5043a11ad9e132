"""The application object (rendercli.app): settings read once from any mapping, the
caller's token carried by its units of work, and nothing written to the environment."""

from __future__ import annotations

import os
import re
from pathlib import Path

from rendercli.app import App
from tests.conftest import TEST_PASSWORD


def test_an_app_is_built_from_a_mapping_without_the_environment(tmp_path: Path) -> None:
    from rendercli.services import accounts

    before = dict(os.environ)
    database = tmp_path / "elsewhere" / "rc.db"
    app = App.from_environment({"RENDERCLI_DATABASE_URL": f"sqlite:///{database}",
                                "RENDERCLI_DATA_DIR": str(tmp_path / "data"),
                                "RENDERCLI_BCRYPT_ROUNDS": "4"})
    assert app.settings.bcrypt_rounds == 4
    user = accounts.register(app.unit_of_work(), "ana@example.com", TEST_PASSWORD)
    session = accounts.login(app.unit_of_work(), "ana@example.com", TEST_PASSWORD,
                             session_name="t")
    assert database.is_file()  # the mapping's database, not the environment's
    assert not (tmp_path / "data" / "rendercli.db").exists()
    assert accounts.authenticate(app.unit_of_work(), session.token).id == user.id
    assert app.acting_as(session.token).unit_of_work().token == session.token
    assert dict(os.environ) == before


def test_a_worker_app_uses_the_worker_login_and_leaves_the_environment_alone() -> None:
    before = dict(os.environ)
    app = App.for_worker({"RENDERCLI_DATABASE_URL": "postgresql+psycopg://client@h/db",
                          "RENDERCLI_WORKER_DATABASE_URL": "postgresql+psycopg://worker@h/db"})
    assert app.settings.database_url == "postgresql+psycopg://worker@h/db"
    assert app.unit_of_work().database_url == "postgresql+psycopg://worker@h/db"
    alone = App.for_worker({"RENDERCLI_DATABASE_URL": "postgresql+psycopg://only@h/db"})
    assert alone.settings.database_url == "postgresql+psycopg://only@h/db"
    assert dict(os.environ) == before


def test_no_module_writes_the_environment() -> None:
    root = Path(__file__).resolve().parents[1] / "rendercli"
    writes = re.compile(r"os\.environ\[[^\]]+\]\s*=|os\.environ\.(update|setdefault|pop)\(|"
                        r"os\.putenv\(")
    found = [f"{path.relative_to(root)}:{n}" for path in sorted(root.rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if writes.search(line)]
    assert found == []
