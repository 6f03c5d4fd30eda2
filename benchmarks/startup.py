"""How long until `latency-quiz` shows an interactive home screen, and until its data is in.

Each run is a fresh `python` process (imports included) that runs the app headless on a new
temporary database and the shipped bank; the parent times it from spawn to the child's
"ready" line (home screen up and taking keys) and "loaded" line (bank synced, dashboard filled).
The first run also creates and migrates the database; later runs reuse it, as a returning user
would. Usage: python benchmarks/startup.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import sys
from quiz.tui import create_app
from quiz.tui.screens.home import HomeScreen

async def report(pilot):
    print("ready", flush=True)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(pilot.app.screen, HomeScreen) and pilot.app.backend_ready
    print("loaded", flush=True)
    pilot.app.exit(0)

create_app(sys.argv[1]).run(headless=True, auto_pilot=report)
"""


def one_run(db_url: str) -> tuple[float, float]:
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    marks: dict[str, float] = {}
    for line in child.stdout:
        marks[line.strip()] = time.perf_counter() - started
    if child.wait() != 0 or set(marks) != {"ready", "loaded"}:
        raise SystemExit(f"the app did not start cleanly (exit {child.returncode}, saw {marks})")
    return marks["ready"], marks["loaded"]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as folder:
        db_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        first_ready, first_loaded = one_run(db_url)
        results = [one_run(db_url) for _ in range(runs)]
    ready = [r for r, _ in results]
    loaded = [lo for _, lo in results]
    print(f"first start (new database): ready {first_ready:.2f} s, loaded {first_loaded:.2f} s")
    print(
        f"later starts, {runs} runs: ready median {statistics.median(ready):.2f} s "
        f"(min {min(ready):.2f}, max {max(ready):.2f}); "
        f"loaded median {statistics.median(loaded):.2f} s "
        f"(min {min(loaded):.2f}, max {max(loaded):.2f})"
    )


if __name__ == "__main__":
    main()
