"""The Practicals screen: the list, a practical's page, the hint ladder, a workspace and a real
grade through the worker subprocess, stored as a run."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Markdown, Static

from quiz.tui.screens.editor import EditorScreen
from quiz.tui.screens.practical import PracticalScreen
from quiz.tui.screens.practicals import PracticalsScreen
from quiz.tui.widgets.lab.checks import ChecksTable, check_detail, verdict_mark
from tests.test_tui_support import make_app, notifications, screen_text, slow_markdown_parsing

SIZE = (100, 30)
PRACTICAL = "capacity-plan-70b"  # its grader is an analytic model: a grade takes seconds


async def settle(pilot: Pilot, timeout_s: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pilot.app.workers._workers and loop.time() < deadline:
        await pilot.pause(0.1)
    await pilot.pause()


async def open_practical(pilot: Pilot, practical_id: str) -> PracticalScreen:
    """From the home screen: the list (l), then the practical's page."""
    await settle(pilot)
    await pilot.press("l")
    await settle(pilot)
    table = pilot.app.screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index(practical_id))
    await pilot.press("enter")
    await settle(pilot)
    page = pilot.app.screen
    assert isinstance(page, PracticalScreen)
    return page


def test_list_hint_workspace_and_grade(tmp_path: Path) -> None:
    asyncio.run(_list_hint_workspace_and_grade(tmp_path))


async def _list_hint_workspace_and_grade(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        listing = app.screen
        assert isinstance(listing, PracticalsScreen)
        table = listing.query_one(DataTable)
        keys = [row.value for row in table.rows]
        assert PRACTICAL in keys and "gpu-roofline" in keys
        text = screen_text(app)
        assert "cuda" in text and "result" in text
        assert all(str(key) in text for key in keys)  # every row shows: no inner scroll
        table.move_cursor(row=keys.index(PRACTICAL))
        await pilot.press("enter")
        await settle(pilot)
        page = app.screen
        assert isinstance(page, PracticalScreen)
        assert page.hints_shown == 0
        await pilot.press("h")
        await settle(pilot)
        assert page.hints_shown == 1
        await pilot.press("w")
        await settle(pilot)
        assert page.workspace is not None and (page.workspace / "solution.py").is_file()
        await pilot.press("e")  # the in-app editor on the workspace
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen) and app.screen.folder == page.workspace
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is page
        await pilot.press("g")
        await settle(pilot)
        checks = page.query_one(ChecksTable)
        assert checks.display and checks.row_count >= 5
        assert "Not passed" in screen_text(app)  # the untouched starter plan fails
        first_failed = next(c for c in checks.checks if not c["passed"])
        assert checks.cursor_row == checks.checks.index(first_failed)
        detail = str(page.query_one("#check-detail", Static).render())
        assert detail == check_detail(first_failed) and first_failed["message"] in detail
        runs = app.backend.store.practical_runs(PRACTICAL)
        assert len(runs) == 1 and not runs[0].passed
        undecided = {
            "name": "throughput vs fp32",
            "passed": False,
            "inconclusive": True,
            "message": "not gradable on this CPU: " + "why " * 60,
        }
        passed = {"name": "weight bytes", "passed": True, "message": "fits"}
        page.post_message(
            PracticalScreen.Graded(
                {
                    "passed": False,
                    "inconclusive": True,
                    "score": 0.5,
                    "duration_s": 40.0,
                    "checks": [passed, undecided],
                }
            )
        )
        await settle(pilot)
        assert "Inconclusive (not a pass)" in screen_text(app)
        assert checks.cursor_row == 1
        assert str(page.query_one("#check-detail", Static).render()) == check_detail(undecided)
        assert str(page.query_one("#grade-answer", Static).render()) == ""
        answer = ["the grader's profile of a steady-state step: head 88.0%, encoder 7.0%"]
        page.post_message(
            PracticalScreen.Graded(
                {
                    "passed": True,
                    "score": 1.0,
                    "duration_s": 10.0,
                    "checks": [passed],
                    "details": {"answer": answer},
                }
            )
        )
        await settle(pilot)
        shown = str(page.query_one("#grade-answer", Static).render())
        assert shown == f"The answer, now that you have it:\n  {answer[0]}"


def test_a_check_shows_passed_failed_or_inconclusive_with_its_whole_message() -> None:
    long = "not gradable on this CPU: " + "x" * 300
    inconclusive = {"name": "throughput", "passed": False, "inconclusive": True, "message": long}
    assert verdict_mark(inconclusive).plain == "?"
    assert check_detail(inconclusive) == f"throughput: inconclusive (not a pass) — {long}"
    assert verdict_mark({"passed": True}).plain == "✓"
    assert verdict_mark({"passed": False}).plain == "✗"
    assert check_detail({"name": "bytes", "passed": False}) == "bytes: failed"


def test_x_opens_the_workspace_in_the_users_editor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_x_opens_the_editor(tmp_path, monkeypatch))


async def _x_opens_the_editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_practical(pilot, PRACTICAL)
        await pilot.press("w")
        await settle(pilot)
        assert page.workspace is not None
        solution = page.workspace / "solution.py"

        monkeypatch.delenv("VISUAL", raising=False)
        monkeypatch.delenv("EDITOR", raising=False)
        await pilot.press("x")
        assert "$EDITOR is not set" in notifications(app)[-1]

        monkeypatch.setenv("EDITOR", 'sh -c \'echo "# edited" >> "$0"\'')
        await pilot.press("x")  # a headless test driver cannot hand its terminal over
        assert "Can't open the editor here" in notifications(app)[-1]
        monkeypatch.setattr(type(app), "suspend", lambda _: contextlib.nullcontext())
        await pilot.press("x")
        assert solution.read_text().endswith("# edited\n")


def test_a_practical_that_may_not_be_gradable_here_says_so_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("quiz.lab.catalog.cpu_flags", lambda: frozenset({"sse4_2", "avx2"}))
    asyncio.run(_caveat_shown(tmp_path))


async def _caveat_shown(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        here = [str(column.label) for column in table.columns.values()].index("here")
        assert table.get_row("int8-ptq")[here] == "maybe"
        assert table.get_row("kv-cache")[here] == "yes"
        table.move_cursor(row=table.get_row_index("int8-ptq"))
        await pilot.press("enter")
        await settle(pilot)
        caveat = str(app.screen.query_one("#caveat", Static).render())
        assert caveat.startswith("Note: this CPU's int8 GEMMs may be too slow for 2x")
        assert caveat.endswith("it has no avx512_vnni, avx_vnni or amx_int8.")


def test_each_revealed_hint_is_scrolled_into_view_when_markdown_renders_slowly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual parses Markdown in a thread: the newest hint is scrolled to once it is laid out,
    not where the hints ended before it arrived (below the README, out of view at 100x30)."""
    slow_markdown_parsing(monkeypatch, 0.3)
    asyncio.run(_each_hint_in_view(tmp_path))


async def _each_hint_in_view(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        page = await open_practical(pilot, PRACTICAL)
        body = page.query_one("#practical-body")
        for shown in range(1, len(page.practical.hints) + 1):
            await pilot.press("h")
            await settle(pilot)
            for _ in range(20):  # the slow parse, then the layout it changes
                await pilot.pause(0.05)
            assert page.hints_shown == shown
            hints = page.query_one("#hints", Markdown)
            assert f"Hint {shown}." in hints.source
            newest = hints.children[-1].virtual_region.translate(hints.virtual_region.offset)
            top, bottom = body.scroll_offset.y, body.scroll_offset.y + body.size.height
            assert top <= newest.y and newest.bottom <= bottom, (shown, newest, top, bottom)
