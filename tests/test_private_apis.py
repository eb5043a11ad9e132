"""Private library APIs we rely on: each is used in one place and checked here, so a
release that moves one fails these tests instead of breaking rendercli quietly."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import requires
from pathlib import Path

import pytest

import rendercli

SOURCE = Path(rendercli.__file__).parent
# Dependencies whose internals we touch must have an upper bound in pyproject.
# (typer: cli/parameters.py reads `type_descriptor`, undocumented and new in Typer 0.29;
# rq: RenderWorker overrides Worker internals.)
BOUNDED = ["typer", "rq"]


def test_no_module_uses_typer_private_api() -> None:
    """Typer through its public doors: no `typer._click`, no private Typer names, no
    assignment to a Typer class's attributes (rendercli/cli/parameters.py subclasses)."""
    private = re.compile(r"typer\._|typer\.core import _|typer\.core\._|"
                         r"\b(Typer\w*|_TyperParameter)\.\w+\s*=[^=]")
    offenders = [
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if private.search(path.read_text())
    ]
    assert offenders == []


def test_typer_classes_are_left_as_typer_made_them() -> None:
    from typer.core import TyperArgument, TyperOption
    from typer.main import get_command

    from rendercli.cli import parameters
    from rendercli.cli.main import app

    before = {cls: dict(vars(cls)) for cls in (TyperOption, TyperArgument)}
    get_command(app).get_command(None, "render")  # a noun loads: its parameters adopted
    assert {cls: dict(vars(cls)) for cls in (TyperOption, TyperArgument)} == before
    assert issubclass(parameters.RenderOption, TyperOption)
    assert issubclass(parameters.RenderArgument, TyperArgument)


def test_click_exceptions_reached_from_typers_public_one() -> None:
    """Click's documented chain BadParameter -> UsageError -> ClickException, which
    app_group.py follows from `typer.BadParameter` to catch Click's errors."""
    from rendercli.cli import app_group

    assert app_group.UsageError.__name__ == "UsageError"
    assert app_group.ClickException.__name__ == "ClickException"
    assert issubclass(app_group.BadParameter, app_group.UsageError)


@pytest.mark.parametrize("package", BOUNDED)
def test_dependencies_whose_internals_we_use_have_an_upper_bound(package: str) -> None:
    lines = [r for r in requires("rendercli") or [] if re.match(rf"{package}\b", r)]
    assert lines and all("<" in r for r in lines), lines


def test_rq_worker_still_has_the_methods_render_worker_overrides() -> None:
    from rq import Worker

    from rendercli.rq_guard import RQ_INTERNALS, check_rq_internals
    from rendercli.worker import RenderWorker

    overridden = [
        name for name, value in vars(RenderWorker).items()
        if callable(value) and not name.startswith("_") and hasattr(Worker, name)
    ]
    assert {"fork_work_horse", "main_work_horse", "run_maintenance_tasks"} <= set(overridden)
    listed = {name for dotted, name, _ in RQ_INTERNALS if dotted == "rq.worker.Worker"}
    assert set(overridden) <= listed, "every override of rq.Worker is in rq_guard.RQ_INTERNALS"
    check_rq_internals()
    init = inspect.signature(Worker.__init__).parameters
    assert {"maintenance_interval", "worker_ttl", "serializer"} <= set(init)
