"""Measure how long the installed `rendercli` takes to start, and to answer a query.

Runs `rendercli --help`, `rendercli --version`, the read commands `jobs status JOB`,
`jobs list`, `project list` and `asset list`, and `render frame PROJECT --at 2.5` of a
short project (a 4 s clip and a still, 720p; on the embedded SQLite default, with a
finished job made beforehand) as real subprocesses N times each, and prints the median
and p90 wall time and the median CPU time in milliseconds next to the target and as a
multiple of `python -c pass` (machines differ; the ratio travels better).

Python's bytecode cache is used as an installed copy uses it: PYTHONDONTWRITEBYTECODE
is dropped for the measured processes (with it set, every run compiles rendercli's
modules again, about 90 ms more).

    python bench/bench_cli_startup.py            # 20 runs each
    python bench/bench_cli_startup.py -n 50
    python bench/bench_cli_startup.py --importtime   # also: the 15 slowest imports

The `rendercli` console script next to sys.executable is used (what users run);
without one it falls back to `python -m rendercli`. Exit status is 1 when a median
misses its target, so CI can run it as a (noisy, machine-dependent) gate.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# argv -> target median in ms (None: measured for information only).
TARGETS_MS: dict[tuple[str, ...], float | None] = {
    ("--help",): 100.0,
    ("--version",): 150.0,
    ("project", "--help"): None,  # a sub-app's help: Typer parses the root's params too
}


def rendercli_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m rendercli`."""
    here = Path(sys.executable).parent
    for name in ("rendercli", "rendercli.exe"):
        script = here / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    found = shutil.which("rendercli")
    if found and Path(found).resolve().parent == here.resolve():
        return [found]
    return [sys.executable, "-m", "rendercli"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_runs(argv: list[str], runs: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """Wall and CPU (user+sys) times in ms of `runs` runs, after one unrecorded warm-up.

    CPU time is printed too because it barely moves when other processes load the
    machine, while wall time does.
    """
    wall, cpu = [], []
    for i in range(runs + 1):
        cpu_start = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = (time.perf_counter() - start) * 1000
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr!r}")
        if i:  # the first run warms the OS file cache and .pyc files
            wall.append(elapsed)
            cpu.append((_children_cpu() - cpu_start) * 1000)
    return wall, cpu


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def slowest_imports(count: int, env: dict[str, str]) -> list[tuple[int, str]]:
    """(cumulative µs, module) of the slowest imports of the CLI's root module."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import rendercli.cli.main"],
        env=env, capture_output=True, text=True, check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.split(":", 1)[1].split("|")
        rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:count]


READ_TARGET_MS = 200.0  # jobs status, jobs list, project list, asset list (issue 21)
FRAME_TARGET_MS = 450.0  # render frame of a short project (issue 15: "well under a second")


def prepare_job(command: list[str], env: dict[str, str], home: Path) -> str:
    """Make an account, a project and one finished render in a throwaway data dir."""
    env.update({"RENDERCLI_DATA_DIR": str(home / "data"),
                "RENDERCLI_CONFIG_DIR": str(home / "config"), "RENDERCLI_BCRYPT_ROUNDS": "4"})

    def run(*argv: str, stdin: str | None = None) -> str:
        return subprocess.run([*command, *argv], input=stdin, env=env, text=True,
                              capture_output=True, check=True).stdout

    from rendercli.render.samples import make_samples

    clip, still = make_samples(home / "media")[:2]
    run("register", "--email", "bench@example.com", "--password-stdin", stdin="benchpass\n")
    run("login", "--email", "bench@example.com", "--password-stdin", "--insecure-storage",
        stdin="benchpass\n")
    run("project", "create", "bench")
    run("asset", "add", "bench", str(clip), str(still), "--duration", "1")
    import json

    return str(json.loads(run("render", "submit", "bench", "--preset", "480p", "--json"))["id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20, help="runs per command (20)")
    parser.add_argument("--importtime", action="store_true", help="show the slowest imports")
    args = parser.parse_args(argv)

    command = rendercli_command()
    env = {**os.environ, "NO_COLOR": "1", "TERMINAL_WIDTH": "100"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what an installed copy does
    print(f"command: {' '.join(command)}  ({args.runs} runs each, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f})")
    missed = False
    for extra, target in TARGETS_MS.items():
        times, cpu = time_runs([*command, *extra], args.runs, env)
        median = statistics.median(times)
        if target is None:
            verdict = "no target"
        else:
            verdict = f"target <= {target:.0f} ms: " + ("ok" if median <= target else "SLOW")
            missed |= median > target
        print(
            f"rendercli {' '.join(extra):<15} median {median:6.1f} ms  p90 {p90(times):6.1f} ms"
            f"  cpu median {statistics.median(cpu):6.1f} ms  ({verdict})"
        )
    baseline, _ = time_runs([sys.executable, "-c", "pass"], args.runs, env)
    python_ms = statistics.median(baseline)
    print(f"python -c pass            median {python_ms:6.1f} ms  (the floor on this machine)")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rc-startup-") as home:
        query_env = dict(env)
        job_id = prepare_job(command, query_env, Path(home))
        frame = ["render", "frame", "bench", "--at", "2.5", "--force", "-o",
                 str(Path(home) / "frame.png")]
        for extra in (["jobs", "status", job_id], ["jobs", "list"], ["project", "list"],
                      ["asset", "list", "bench"], frame):
            times, cpu = time_runs([*command, *extra], args.runs, query_env)
            median = statistics.median(times)
            target = FRAME_TARGET_MS if extra is frame else READ_TARGET_MS
            missed |= median > target
            verdict = f"target <= {target:.0f} ms: " + ("ok" if median <= target else "SLOW")
            label = " ".join(extra[:2]) + (" JOB" if extra[1] == "status" else "")
            print(
                f"rendercli {label:<15} median {median:6.1f} ms  p90 {p90(times):6.1f} ms"
                f"  cpu median {statistics.median(cpu):6.1f} ms  {median / python_ms:4.1f}x "
                f"python  ({verdict})"
            )
    if args.importtime:
        print("\nslowest imports of rendercli.cli.main (cumulative ms):")
        for micros, name in slowest_imports(15, env):
            print(f"  {micros / 1000:7.1f}  {name}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
