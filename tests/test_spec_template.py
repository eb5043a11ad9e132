"""``{{ field }}`` placeholders: substitution only, and clear errors."""

from __future__ import annotations

import pytest

from rendercli.specfile.template import (
    MissingValue,
    TemplateError,
    field_names,
    has_placeholders,
    substitute,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello {{ name }}", "Hello Ana"),
        ("{{name}}{{ city }}!", "AnaLisbon!"),
        ("no placeholders { } }}", "no placeholders { } }}"),
        ("literal {{{{ name }}", "literal {{ name }}"),
        ("{{{{{{ name }}", "{{Ana"),
        ("{{ name }} and {{ name }}", "Ana and Ana"),
    ],
)
def test_substitution(text: str, expected: str) -> None:
    assert substitute(text, {"name": "Ana", "city": "Lisbon"}) == expected


def test_values_are_never_evaluated_or_substituted_again() -> None:
    values = {"name": "{{ city }} {{ 7*7 }} {% x %} ${HOME}", "city": "Lisbon"}
    assert substitute("Hi {{ name }}", values) == "Hi {{ city }} {{ 7*7 }} {% x %} ${HOME}"


@pytest.mark.parametrize(
    "text",
    ["{{ name.upper }}", "{{ name | upper }}", "{{ 1 + 2 }}", "{{ }}", "{{ 9lives }}",
     "{{ name() }}", "{{ name[0] }}", "{{{ name }}"],
)
def test_anything_but_a_name_is_malformed(text: str) -> None:
    with pytest.raises(TemplateError, match="malformed placeholder"):
        substitute(text, {"name": "Ana"})
    assert has_placeholders(text)


def test_unclosed_placeholder() -> None:
    with pytest.raises(TemplateError, match=r"unclosed placeholder '\{\{ name': close it"):
        field_names("Hi {{ name")


@pytest.mark.parametrize("values", [{}, {"name": None}, {"name": ""}])
def test_a_missing_value_names_the_field(values: dict[str, str | None]) -> None:
    with pytest.raises(MissingValue) as caught:
        substitute("Hi {{ name }}", values)
    assert caught.value.name == "name"


def test_field_names_in_order_of_first_use() -> None:
    assert field_names("{{ b }} {{ a }} {{ b }} {{{{ c }}") == ["b", "a"]
    assert not has_placeholders("{{{{ literal }}")
