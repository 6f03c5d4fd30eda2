"""A practical item worked inside a mock: the mock's own workspace, the in-app editor (save,
run, submit), a real grade on the clock whose score becomes the item's score."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Log, TextArea

from quiz.lab.catalog import get_practical
from quiz.tui import StartMock
from quiz.tui.screens.editor import EditorScreen
from quiz.tui.screens.mock import MockScreen
from quiz.tui.screens.mock_report import MockReportScreen
from tests.test_tui_mock import PRACTICAL_QUESTION, current_kind, settle
from tests.test_tui_support import TINY_BANK, FakeClock, current_screen, make_app, screen_text

SIZE = (100, 30)


def test_a_practical_item_is_edited_run_and_graded_on_the_clock(tmp_path: Path) -> None:
    asyncio.run(_practical_graded_in_mock(tmp_path))


async def _practical_graded_in_mock(tmp_path: Path) -> None:
    clock = FakeClock()
    app = make_app(
        tmp_path, clock=clock, bank_text=TINY_BANK + PRACTICAL_QUESTION, start=StartMock("L2", 15)
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        while await current_kind(pilot) != "practical":
            clock.advance(10)
            await pilot.press("ctrl+s")
            await settle(pilot)
        mock_screen = current_screen(app, MockScreen)
        assert mock_screen.mock is not None
        folder = mock_screen.work_folder
        assert folder is not None and folder.name == "capacity-plan-70b"
        assert f"mock-{mock_screen.mock.session_id}" in str(folder)  # the interview's own copy
        assert "Workspace:" in screen_text(app)

        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert [f.name for f in editor.files] == ["solution.py", "plan.yaml"]
        assert "left" in screen_text(app)  # the mock's clock shows in the editor
        reference = get_practical("capacity-plan-70b").file("reference.py").read_text()
        editor.query_one(TextArea).load_text(reference)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert (folder / "solution.py").read_text() == reference

        await pilot.press("ctrl+r")  # the quick local run: python solution.py in a subprocess
        await settle(pilot)
        output = "\n".join(editor.query_one("#editor-output", Log).lines)
        assert "exit status 0" in output, output

        clock.advance(120)
        await pilot.press("ctrl+g")  # submit: the full grade, on the mock's clock
        await settle(pilot, timeout_s=300)
        assert app.screen is mock_screen
        assert mock_screen.mock.answered >= 1 and await current_kind(pilot) != "practical"

        while isinstance(app.screen, MockScreen):
            clock.advance(10)
            await pilot.press("ctrl+s")
            await settle(pilot)
        assert isinstance(app.screen, MockReportScreen)
        report = app.screen.report
        practical = next(i for i in report["items"] if i["kind"] == "practical")
        assert practical["score"] == 1.0 and practical["correct"], practical
        assert practical["duration_s"] >= 120
        runs = app.backend.store.practical_runs("capacity-plan-70b")
        assert len(runs) == 1 and runs[0].passed and runs[0].source == "workspace"
