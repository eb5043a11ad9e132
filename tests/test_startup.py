"""`rendercli --help` stays fast (see bench/bench_cli_startup.py).

- Help is plain Click text: Typer's rich help imports rich, markdown-it and pygments,
  which was most of the start-up time. rich loads only to draw a table.
- Omitted options skip Typer's pydantic coercion (rendercli/cli/parameters.py), so
  `rendercli project --help` does not import pydantic.
- The root group loads a noun's module only when that noun runs (cli/app_group.py).

test_cli_conventions checks the database and queue libraries; this checks the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports import modules_loaded_by

NOT_AT_START = ["rich", "markdown_it", "pygments", "pydantic", "socket", "yaml",
                "rendercli.specfile.loader"]


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["project", "--help"], ["db", "upgrade", "--help"],
     ["spec", "validate", "--help"]],
)
def test_help_and_version_load_no_help_renderer_nor_pydantic(argv: list[str]) -> None:
    loaded = modules_loaded_by(argv, NOT_AT_START)
    assert loaded == [], (
        "a slow import is back at start-up: keep rich_markup_mode=None on every app, "
        "parameters.adopt() on loaded commands, and import rich/socket inside the functions "
        "that use them (yaml and the spec loader: inside the spec commands)"
    )


def test_help_is_plain_text() -> None:
    from typer.testing import CliRunner

    from rendercli.cli.main import app

    result = CliRunner().invoke(app, ["project", "--help"], env={"NO_COLOR": "1"})
    assert result.exit_code == 0
    assert result.output.startswith("Usage: ")
    assert not any(ch in result.output for ch in "╭╮╰╯│─\x1b")


def _typer_params():
    from typer import Context
    from typer.core import TyperArgument, TyperOption
    from typer.main import get_command

    from rendercli.cli.main import app

    def walk(command, parent):
        ctx = Context(command, info_name=command.name, parent=parent, resilient_parsing=False)
        for param in command.get_params(ctx):  # includes the lazily made --help option
            if isinstance(param, TyperOption | TyperArgument):
                yield ctx, param
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub, ctx)

    return list(walk(get_command(app), None))


def _typers(param, ctx, value):
    """Typer's own process_value, which rendercli's parameter classes override."""
    from typer.core import TyperArgument, TyperOption

    typers = TyperOption if isinstance(param, TyperOption) else TyperArgument
    return typers.process_value(param, ctx, value)


def _outcome(call):
    try:
        return ("value", call())
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def test_omitted_values_are_processed_exactly_as_typer_does() -> None:
    params = _typer_params()
    assert len(params) > 30
    kinds = set()
    for ctx, param in params:
        ours = _outcome(lambda ctx=ctx, param=param: param.process_value(ctx, None))
        typers = _outcome(
            lambda ctx=ctx, param=param: _typers(param, ctx, None)
        )
        assert ours == typers, f"{ctx.command_path} {param.name}: {ours} != {typers}"
        kinds.add(ours[0])
    assert kinds == {"value", "raised"}  # optional ones and required arguments both seen


def test_given_strings_and_defaults_are_processed_exactly_as_typer_does() -> None:
    seen = 0
    for ctx, param in _typer_params():
        for value in ("holiday", "", "-x", "k2x9c0c0p1q8r7s6t5u4v3w2", param.default):
            ours = _outcome(lambda ctx=ctx, param=param, v=value: param.process_value(ctx, v))
            typers = _outcome(lambda ctx=ctx, param=param, v=value:
                              _typers(param, ctx, v))
            assert ours == typers, f"{ctx.command_path} {param.name} {value!r}: {ours} != {typers}"
            seen += 1
    assert seen > 100


def test_given_numbers_and_paths_are_processed_exactly_as_typer_does(tmp_path: Path) -> None:
    """`--at 2.5`, `--limit 50`, `-o frame.png` skip pydantic (parameters.py point 1):
    the outcome must be Typer's own for every parameter, including texts that are not
    plain numbers, and paths that exist, do not, or are directories."""
    from rendercli.cli.parameters import check_range
    from rendercli.errors import InvalidInput

    existing = tmp_path / "spec.yaml"
    existing.write_text("version: 1\n")
    values = ["2.5", "7", "0", "-1", "1e3", "+3", "007", "1_000", " 2", "2.", "nan", "inf",
              "out.png", str(existing), str(tmp_path), "-", "./x/../y", "caf\u00e9.png"]
    seen = skipped = 0
    for ctx, param in _typer_params():
        for value in values:
            try:
                check_range(param, value)
            except InvalidInput:
                continue  # out of range: our own message, before Typer's (test below)
            ours = _outcome(lambda ctx=ctx, param=param, v=value: param.process_value(ctx, v))
            typers = _outcome(lambda ctx=ctx, param=param, v=value:
                              _typers(param, ctx, v))
            assert repr(ours) == repr(typers), (  # repr: nan != nan
                f"{ctx.command_path} {param.name} {value!r}: {ours} != {typers}")
            if ours[0] == "value" and not isinstance(ours[1], str):
                seen += 1  # converted to a number or a Path
            skipped += ours[0] == "raised"
    assert seen > 50 and skipped > 10


def test_render_frame_loads_no_pydantic(tmp_path: Path) -> None:
    """A number and a path given on the command line are converted without pydantic."""
    from tests.imports import modules_loaded_by

    loaded = modules_loaded_by(["render", "frame", "nope", "--at", "2.5", "-o",
                                str(tmp_path / "f.png")], ["pydantic"])
    assert loaded == []


def test_given_values_are_still_converted_and_checked(cli) -> None:
    result = cli("asset", "update", "x", "--position", "first")
    assert result.exit_code == 2
    assert "--position" in result.stderr and result.stderr.count("\n") == 1
