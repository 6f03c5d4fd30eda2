"""The TUI process never imports torch: checked in fresh subprocesses, so imports made by
other tests cannot hide or fake a leak."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.test_tui_support import TINY_BANK

DRIVE_THE_APP = """
import asyncio, sys
from pathlib import Path
from quiz.tui import create_app
from quiz.tui.backend import PracticeFilters

async def main(folder):
    bank = folder / "bank.yaml"
    bank.write_text(sys.stdin.read(), encoding="utf-8")
    app = create_app(f"sqlite:///{folder / 'quiz.db'}", bank_paths=[bank], seed=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        for key in ("p", "ctrl+s", "1", "ctrl+s"):  # a practice question, answered
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
        for key in ("escape", "escape", "g", "escape", "l", "escape", "m", "ctrl+s"):
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert type(app.screen).__name__ == "MockScreen", type(app.screen).__name__
        assert app.backend.store.attempts(), "nothing was answered"
    print("torch" in sys.modules)

asyncio.run(main(Path(sys.argv[1])))
"""

IMPORT_EVERYTHING_THE_APP_USES = """
import importlib, pkgutil, sys
import quiz.cli, quiz.tui
quiz.cli.build_parser()
for module in pkgutil.walk_packages(quiz.tui.__path__, "quiz.tui."):
    importlib.import_module(module.name)
# what the backend imports lazily while the app runs
for name in ("quiz.bank", "quiz.grading", "quiz.store", "quiz.study.practice",
             "quiz.study.mock", "quiz.study.progress", "quiz.lab.catalog", "quiz.lab.runner",
             "quiz.lab.workspace"):
    importlib.import_module(name)
print("torch" in sys.modules)
"""


def run_python(code: str, *args: str, stdin: str = "") -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_driving_the_app_never_imports_torch(tmp_path: Path) -> None:
    assert run_python(DRIVE_THE_APP, str(tmp_path), stdin=TINY_BANK) == "False"


def test_nothing_the_cli_and_tui_import_pulls_in_torch() -> None:
    assert run_python(IMPORT_EVERYTHING_THE_APP_USES) == "False"
