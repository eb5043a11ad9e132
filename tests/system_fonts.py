"""Tests whose text needs fonts beyond the shipped one (Hebrew, Arabic, CJK, emoji)."""

from __future__ import annotations

import pytest


def need_fonts_for(text: str) -> None:
    """Skip, naming the packages, on a machine with no font for some of ``text``'s
    characters (a bare one; CI installs fonts-dejavu-core, fonts-wqy-microhei and
    fonts-symbola): rendercli rightly refuses such text there instead of drawing empty
    boxes, and tests/test_text_scripts.py checks that refusal."""
    from rendercli.errors import InvalidInput
    from rendercli.render.coverage import check_coverage
    from rendercli.render.text import DEFAULT_FONT, font_metrics

    try:
        check_coverage(text, font_metrics(DEFAULT_FONT), "NotoSans-Bold", where="test")
    except InvalidInput as exc:
        pytest.skip(f"{exc.message} (Debian packages fonts-dejavu-core fonts-wqy-microhei "
                    "fonts-symbola)")
