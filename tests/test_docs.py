"""docs/cli.md is the living CLI reference: it must match the commands as they are."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "docs" / "generate_cli_reference.py"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_cli_reference", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date() -> None:
    generator = _generator()
    expected = generator.render()
    current = generator.OUTPUT.read_text(encoding="utf-8") if generator.OUTPUT.exists() else ""
    assert current == expected, (
        f"docs/cli.md is out of date with the commands: run `{generator.REGENERATE}` "
        "and commit docs/cli.md"
    )


def test_cli_reference_covers_every_command() -> None:
    from typer.main import get_command

    from rendercli.cli.main import app

    def paths(command, path):
        yield " ".join(path)
        for name, sub in getattr(command, "commands", {}).items():
            if not sub.hidden:
                yield from paths(sub, [*path, name])

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for path in paths(get_command(app), ["rendercli"]):
        assert f"\n## {path}\n" in text, f"docs/cli.md has no section for `{path}`"
        assert f"Usage: {path} " in text, f"docs/cli.md lacks the --help of `{path}`"


def test_reference_does_not_depend_on_the_terminal_width() -> None:
    env_runs = [{"COLUMNS": "40"}, {"COLUMNS": "250"}]
    outputs = set()
    for extra in env_runs:
        code = (
            "import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('g', {str(GENERATOR)!r})\n"
            "g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)\n"
            "sys.stdout.write(g.render())\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env={"PATH": "/usr/bin:/bin", **extra})
        outputs.add(proc.stdout)
    assert len(outputs) == 1


def test_check_mode_exits_1_when_out_of_date(tmp_path: Path, monkeypatch) -> None:
    generator = _generator()
    stale = tmp_path / "cli.md"
    stale.write_text("# stale\n", encoding="utf-8")
    monkeypatch.setattr(generator, "OUTPUT", stale)
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    assert generator.main(["--check"]) == 1
    assert stale.read_text(encoding="utf-8") == "# stale\n"  # --check never writes
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0
