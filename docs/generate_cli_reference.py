"""Write docs/cli.md: the full --help of every rendercli command, from the Typer app itself.

    python docs/generate_cli_reference.py           # rewrite docs/cli.md
    python docs/generate_cli_reference.py --check   # exit 1 if docs/cli.md is out of date

The help is rendered at a fixed width of 100 columns, in plain text, whatever the
terminal, so the file only changes when a command does. tests/test_docs.py runs the
check, so a new or changed command fails the suite until this is run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "cli.md"
REGENERATE = "python docs/generate_cli_reference.py"
WIDTH = 100

if str(ROOT) not in sys.path:  # document this working tree, not another installed copy
    sys.path.insert(0, str(ROOT))


def _commands():
    """(path, command, context) for the root and every visible sub-command, depth first."""
    from typer.main import get_command

    from rendercli.cli.main import app

    def walk(command, path, parent):
        ctx = command.make_context(
            path[-1], [], parent=parent, resilient_parsing=True,
            terminal_width=WIDTH, max_content_width=WIDTH,
        )
        yield path, command, ctx
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    yield from walk(sub, [*path, name], ctx)

    yield from walk(get_command(app), ["rendercli"], None)


def _help(command, ctx) -> str:
    text = command.get_help(ctx)
    if not text.strip() or any(ch in text for ch in "\x1b╭│─"):
        raise SystemExit(
            "help came out empty or decorated: the reference needs plain Click help "
            "(rich_markup_mode=None on the root app in rendercli/cli/main.py)"
        )
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def render() -> str:
    """The whole of docs/cli.md."""
    sections = []
    for path, command, ctx in _commands():
        title = " ".join(path)
        sections.append((title, _help(command, ctx)))
    anchor = {title: title.replace(" ", "-") for title, _ in sections}
    lines = [
        "# rendercli command reference",
        "",
        "<!-- Generated from the Typer app by docs/generate_cli_reference.py: do not edit. -->",
        "",
        f"This file is generated. After adding or changing a command, run `{REGENERATE}`",
        "and commit the result (`tests/test_docs.py` fails while it is out of date).",
        "",
        "## Contents",
        "",
        *(f"- [`{title}`](#{anchor[title]})" for title, _ in sections),
    ]
    for title, text in sections:
        lines += ["", f"## {title}", "", "```text", text, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if docs/cli.md is out of date, without writing it")
    args = parser.parse_args(argv)
    text = render()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else None
    if args.check:
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        OUTPUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
