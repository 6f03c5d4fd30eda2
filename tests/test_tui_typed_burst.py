"""Keys that arrive in one burst (a fast typist, a paste followed by a key, a terminal that
delivers several keys in one read) are handled in order: a save or submit key reads what was
typed before it. As priority bindings they ran before the characters queued for the focused
input reached it: a plan saved '2027' of '2027-02-15' (seen in tmux)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual import events
from textual.keys import _character_to_key
from textual.widgets import TextArea

from quiz.tui import StartMock
from quiz.tui.screens.editor import EditorScreen
from quiz.tui.screens.mock import MockScreen
from quiz.tui.screens.plan import PlanScreen
from tests.test_tui_mock import settle
from tests.test_tui_support import FakeClock, current_screen, make_app, question_view

SIZE = (100, 30)


def burst(app: Any, text: str, then: str) -> None:
    """``text`` typed and then the key ``then``, all queued before the app handles any."""
    for char in text:
        app.post_message(events.Key(_character_to_key(char), char))
    app.post_message(events.Key(then, None))


def test_a_plan_saved_in_the_same_burst_as_its_date_keeps_the_whole_date(tmp_path: Path) -> None:
    asyncio.run(_plan_burst(tmp_path))


async def _plan_burst(tmp_path: Path) -> None:
    app = make_app(tmp_path, clock=FakeClock())  # today is 2025-03-03
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        current_screen(app, PlanScreen)
        burst(app, "2025-04-21", "ctrl+s")
        await settle(pilot)
        assert app.backend.progress()["plan"]["interview"] == "2025-04-21"


def test_a_mock_answer_submitted_in_the_same_burst_is_stored_whole(tmp_path: Path) -> None:
    asyncio.run(_mock_burst(tmp_path))


async def _mock_burst(tmp_path: Path) -> None:
    clock = FakeClock()
    app = make_app(tmp_path, clock=clock, start=StartMock("L2", 15))
    typed: dict[str, str] = {}
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        while isinstance(app.screen, MockScreen) and len(typed) < 2:
            screen = app.screen
            instance = (await question_view(pilot, screen)).instance
            clock.advance(10)
            if instance.kind == "numeric":  # one line, in an Input
                typed[instance.question_id] = "8 GiB"
                burst(app, "8 GiB", "ctrl+s")
            elif instance.kind == "short":  # several lines, in a TextArea
                typed[instance.question_id] = "keys and values\nof every layer"
                burst(app, "keys and values", "enter")
                burst(app, "of every layer", "ctrl+s")
            else:
                await pilot.press("ctrl+s")
            await settle(pilot)
        assert len(typed) == 2, "the tiny bank's mock asks one numeric and one short question"
        stored = {a.question_id: a.answer for a in app.backend.store.attempts(mode="mock")}
        for question_id, text in typed.items():
            assert stored[question_id] == text


def test_an_editor_save_in_the_same_burst_writes_every_key(tmp_path: Path) -> None:
    asyncio.run(_editor_burst(tmp_path))


async def _editor_burst(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "solution.py").write_text("", encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.push_screen(EditorScreen(folder, title="burst"))
        await settle(pilot)
        editor = current_screen(app, EditorScreen)
        assert editor.query_one(TextArea).has_focus
        burst(app, "x = 1", "ctrl+s")
        await settle(pilot)
        assert (folder / "solution.py").read_text(encoding="utf-8") == "x = 1"
