"""RENDERCLI_CHUNK_SECONDS and RENDERCLI_FARM_SPLIT: defaults, overrides, bad values."""

from __future__ import annotations

import re

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
    ("RENDERCLI_CHUNK_SECONDS", "-1", "must be a number from 0 to 86400, got '-1'"),
    ("RENDERCLI_CHUNK_SECONDS", "inf", "must be a number from 0 to 86400, got 'inf'"),
    ("RENDERCLI_CHUNK_SECONDS", "nan", "must be a number from 0 to 86400, got 'nan'"),
    ("RENDERCLI_CHUNK_SECONDS", "ten", "must be a number from 0 to 86400, got 'ten'"),
    ("RENDERCLI_FARM_SPLIT", "sometimes", "must be one of auto, always, never, got 'sometimes'"),
])
def test_bad_values_are_one_clear_line(cli: Cli, monkeypatch: pytest.MonkeyPatch, name: str,
                                       value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput, match=re.escape(f"{name} {message}")):
        get_settings()
    result = cli("project", "list")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr == f"error: {name} {message}\n"
