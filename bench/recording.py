"""How a benchmark's figures are printed and kept: the header of a run, and its section of bench/RESULTS.md.

`make bench` (bench/run_all.py) sets QS_BENCH_SECTIONS to a directory: each benchmark then writes its
section there as a file of its own (and its figures as JSON beside it, for the tables run_all.py builds
across runs), and run_all.py rewrites RESULTS.md from them. Run by hand with --record, a benchmark
appends its section to RESULTS.md instead.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTIONS_VARIABLE = "QS_BENCH_SECTIONS"
ADDRESS_OPTIONS = ("--api", "--sink", "--aws")
# The machine's speed as a recorded figure: CPU seconds of this many rounds of a fixed Python loop.
SPEED_LOOP_ROUNDS = 5_000_000


def current_commit() -> str:
    """The short hash of HEAD, for the record of a run."""
    git = ["git", "rev-parse", "--short", "HEAD"]
    return subprocess.run(git, capture_output=True, text=True, cwd=ROOT, check=False).stdout.strip()


def command_line() -> str:
    """The command that is running, as a user would type it from the repository's root."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join(["python", str(shown), *without_addresses(sys.argv[1:])])


def without_addresses(arguments: list[str]) -> list[str]:
    """A command's arguments without --api/--sink/--aws and their values: a stack's addresses change every
    run (make bench picks free ports), so they are not part of the command to record."""
    kept, skip = [], False
    for argument in arguments:
        if skip or argument in ADDRESS_OPTIONS:
            skip = not skip
            continue
        kept.append(argument)
    return kept


def speed_loop_seconds() -> float:
    """CPU seconds a fixed pure-Python loop takes: how fast the machine is right now.

    On shared hosts it moves by the minute (0.23 to 0.38 s on one machine within half an hour, and the
    benchmarks' figures with it), so every recorded run states it beside its figures.
    """
    started = time.process_time()
    total = 0
    for value in range(SPEED_LOOP_ROUNDS):
        total += value * value
    return time.process_time() - started


def machine_line() -> str:
    """Date, cores, Python, commit and the machine's speed: what every recorded table states about its run."""
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"commit {current_commit()}, speed loop {speed_loop_seconds():.2f} s"
    )


def run_header(title: str) -> str:
    """A section's title and the line saying when, where and by which command its figures were made."""
    return f"### {title}\n\n{machine_line()}: `{command_line()}`\n"


def _section_path(suffix: str) -> Path | None:
    directory = os.environ.get(SECTIONS_VARIABLE)
    if not directory:
        return None
    # Named by time, so that run_all.py keeps the order the benchmarks ran in.
    return Path(directory) / f"{time.time_ns()}-{Path(sys.argv[0]).stem}{suffix}"


def publish(text: str, record: bool) -> None:
    """Print a benchmark's section; keep it for run_all.py (QS_BENCH_SECTIONS), or with record append it to
    RESULTS.md."""
    print(text)
    target = _section_path(".md")
    if target is not None:
        target.write_text(text.rstrip() + "\n")
    elif record:
        with RESULTS.open("a") as handle:
            handle.write("\n" + text)


def keep_figures(figures: dict[str, Any]) -> None:
    """Leave a run's figures as JSON for run_all.py's tables across runs (only under QS_BENCH_SECTIONS)."""
    target = _section_path(".json")
    if target is not None:
        target.write_text(json.dumps(figures, indent=1, default=str))
