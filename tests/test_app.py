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


def test_services_store_files_where_the_app_says(tmp_path: Path) -> None:
    """Settings travel one way: a service reads them from the unit of work its App made,
    never from the environment (which here names other directories)."""
    import hashlib

    from rendercli.services import accounts, assets, projects
    from tests.media_factory import make_image

    before = dict(os.environ)
    storage = tmp_path / "app-storage"
    app = App.from_environment({"RENDERCLI_DATABASE_URL": f"sqlite:///{tmp_path / 'rc.db'}",
                                "RENDERCLI_DATA_DIR": str(tmp_path / "app-data"),
                                "RENDERCLI_STORAGE_DIR": str(storage),
                                "RENDERCLI_BCRYPT_ROUNDS": "4"})
    user = accounts.register(app.unit_of_work(), "ana@example.com", TEST_PASSWORD)
    projects.create(app.unit_of_work(), user.id, "trip")
    image = make_image(tmp_path / "still.png")
    [added] = assets.add(app.unit_of_work(), user.id, "trip", [image])
    key = hashlib.sha256(image.read_bytes()).hexdigest()
    stored = [p for p in storage.rglob("*") if p.is_file() and p.name == key]
    assert len(stored) == 1 and stored[0].read_bytes() == image.read_bytes()
    assert assets.get(app.unit_of_work(), user.id, added.id).id == added.id
    assert os.environ.get("RENDERCLI_STORAGE_DIR") != str(storage)
    assert dict(os.environ) == before


# Where code may still read the settings from the environment itself: config.py defines
# get_settings; a unit of work made without an App (tests naming a database) reads them;
# the render engine and media layer below the services have no App (yet) for their
# process-wide caches, ffmpeg choice and tunables.
GET_SETTINGS_ALLOWED = {"config.py", "services/unit_of_work.py", "media/ffmpeg_binary.py",
                        "media/hash_memo.py", "render/colour.py", "render/runner.py",
                        "specfile/media.py"}


def test_settings_are_read_from_the_environment_only_where_there_is_no_app() -> None:
    root = Path(__file__).resolve().parents[1] / "rendercli"
    found = {str(path.relative_to(root)) for path in root.rglob("*.py")
             if "get_settings(" in path.read_text(encoding="utf-8")}
    assert found <= GET_SETTINGS_ALLOWED, sorted(found - GET_SETTINGS_ALLOWED)
