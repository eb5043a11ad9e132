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
# (rq: RenderWorker overrides Worker internals; its bound comes with the farm hardening.)
BOUNDED = ["typer", "rq"]


def test_typer_private_names_are_where_typer_internals_expects() -> None:
    from rendercli.cli import typer_internals

    for name in typer_internals.__all__:
        assert getattr(typer_internals, name) is not None, name
    assert issubclass(typer_internals.UsageError, typer_internals.ClickException)
    assert issubclass(typer_internals.NoArgsIsHelpError, typer_internals.UsageError)
    assert typer_internals.install()
    assert typer_internals.TyperParameter.process_value is typer_internals._process_value
    typers = typer_internals._typer_process_value  # the method the patch wraps
    assert typers is not typer_internals._process_value
    assert list(inspect.signature(typers).parameters) == ["self", "ctx", "value"]


def test_no_other_module_touches_typer_internals() -> None:
    private = re.compile(r"typer\._click|typer\.core import _|typer\.core\._")
    offenders = [
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if path.name != "typer_internals.py" and private.search(path.read_text())
    ]
    assert offenders == [], "use rendercli/cli/typer_internals.py for Typer's private API"


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
