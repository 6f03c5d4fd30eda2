"""The progress screen over a history made through the backend: phases, topics, the chart,
weakest topics and past mocks (enter opens a report)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable

from quiz.tui.screens.mock_report import MockReportScreen
from quiz.tui.screens.progress import ProgressScreen
from quiz.tui.widgets.progress.score_chart import ScoreChart, moving_average
from tests.test_tui_support import FakeClock, make_app, make_history, screen_text

SIZE = (100, 40)


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_progress_shows_phases_topics_chart_weakest_and_mocks(tmp_path: Path) -> None:
    asyncio.run(_progress(tmp_path))


async def _progress(tmp_path: Path) -> None:
    clock = FakeClock()
    app = make_app(tmp_path, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        make_history(app.backend, clock)
        await pilot.press("g")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProgressScreen)
        text = screen_text(app)
        assert "5 answers" in text  # four practice answers and one mock answer
        phases = screen.query_one("#progress-phases", DataTable)
        assert phases.row_count == 3
        # The phases are named as on the home screen and in the CLI (the roadmap's names).
        names = [phases.get_row_at(row)[0] for row in range(3)]
        assert names == ["Foundations", "Core Optimization", "Advanced Systems"]
        topics = screen.query_one("#progress-topics", DataTable)
        assert topics.row_count == 6
        progress = app.backend.progress()
        seen = [t for t in progress["topics"] if t["questions_seen"]]
        weakest = sorted(seen, key=lambda t: t["mastery"])[0]  # mastery, as the CLI says it
        assert f"Weakest topics (mastery): {weakest['id']} (" in text
        mocks = screen.query_one("#progress-mocks", DataTable)
        assert mocks.row_count == 1
        assert "no hire" in text
        chart = screen.query_one(ScoreChart)
        assert len(chart.scores) == 5 and sorted(chart.scores[:4]) == [0.0, 0.0, 1.0, 1.0]
        mocks.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MockReportScreen)
        assert app.screen.report["answered"] == 1


def test_moving_average_is_the_mean_of_the_last_window() -> None:
    assert moving_average([1.0, 0.0, 1.0, 0.0], window=2) == [1.0, 0.5, 0.5, 0.5]
    assert moving_average([]) == []


def test_answer_ticks_are_whole_numbers_and_few() -> None:
    from quiz.tui.widgets.progress.score_chart import integer_ticks

    assert integer_ticks(1) == [1]
    assert integer_ticks(5) == [1, 2, 3, 4, 5]
    ticks = integer_ticks(30)
    assert len(ticks) <= 8 and ticks[0] == 1 and all(isinstance(t, int) for t in ticks)
    assert integer_ticks(100)[-1] <= 100


def test_the_tui_names_the_phases_as_the_roadmap_does() -> None:
    """The TUI keeps the names at hand, to show them before the roadmap has loaded."""
    from quiz.study.plan import load_roadmap
    from quiz.tui.widgets.home.phase_card import PHASE_NAMES

    assert {phase.id: phase.name for phase in load_roadmap().phases} == PHASE_NAMES
