"""RENDERCLI_CHUNK_SECONDS and RENDERCLI_FARM_SPLIT: defaults, overrides, bad values."""

from __future__ import annotations

import pytest

from rendercli.config import DEFAULT_CHUNK_SECONDS, get_settings
from rendercli.errors import InvalidInput
from tests.conftest import Cli


def test_defaults_chunk_long_items_and_split_only_with_two_workers() -> None:
    settings = get_settings()
    assert settings.chunk_seconds == DEFAULT_CHUNK_SECONDS == 10.0
    assert settings.farm_split == "auto"


def test_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDERCLI_CHUNK_SECONDS", "0")  # no chunks
    monkeypatch.setenv("RENDERCLI_FARM_SPLIT", "Never")
    assert get_settings().chunk_seconds == 0 and get_settings().farm_split == "never"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("RENDERCLI_CHUNK_SECONDS", "-1", "0 (no chunks) or more seconds"),
    ("RENDERCLI_CHUNK_SECONDS", "inf", "0 (no chunks) or more seconds"),
    ("RENDERCLI_CHUNK_SECONDS", "nan", "0 (no chunks) or more seconds"),
    ("RENDERCLI_CHUNK_SECONDS", "ten", "must be a number"),
    ("RENDERCLI_FARM_SPLIT", "sometimes", "auto, always, never"),
])
def test_bad_values_are_one_clear_line(cli: Cli, monkeypatch: pytest.MonkeyPatch, name: str,
                                       value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        get_settings()
    result = cli("project", "list")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert name in result.stderr and "Traceback" not in result.stderr
