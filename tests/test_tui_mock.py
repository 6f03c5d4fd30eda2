"""Mock interviews on a fake clock: a complete one where time runs out mid-answer, and one
closed mid-session then resumed from the home screen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Markdown

from quiz.tui import StartMock
from quiz.tui.screens.home import HomeScreen
from quiz.tui.screens.mock import MockScreen
from quiz.tui.screens.mock_finish import FinishNowModal
from quiz.tui.screens.mock_report import MockReportScreen, not_reached_text
from quiz.tui.widgets.mock.countdown import Countdown
from quiz.tui.widgets.question.order import OrderAnswer
from tests.test_tui_support import (
    TINY_BANK,
    FakeClock,
    correct_keys,
    make_app,
    question_view,
    screen_text,
    slow_markdown_parsing,
)

SIZE = (80, 24)
FIFTEEN_MIN_S = 15 * 60

# A practical-kind question at L2 (the shipped one is L4): its grader is an analytic model, so a
# real grade takes seconds on any machine.
PRACTICAL_QUESTION = """
- id: capacity-plan-70b
  title: A 70B serving plan within its SLA
  phase: advanced
  level: L2
  topic: capacity-planning
  skills: [capacity-planning]
  kind: practical
  practical: capacity-plan-70b
  prompt: Write plan.yaml for serving Llama-3-70B within its SLA at the lowest cost.
  explanation: Memory bytes decide the smallest replica. Queueing then decides the replicas.
  references: ["tiny fixture"]
  time_budget_s: 300
"""


async def settle(pilot: Pilot, timeout_s: float = 120) -> None:
    """Wait until no worker runs (a cancelled one is not an error here)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pilot.app.workers._workers and loop.time() < deadline:
        await pilot.pause(0.05)
    await pilot.pause()


async def answer_correctly(pilot: Pilot, clock: FakeClock, seconds: float) -> None:
    """Think for ``seconds`` of fake time, then give the right answer and submit it."""
    screen = pilot.app.screen
    assert isinstance(screen, MockScreen)
    instance = (await question_view(pilot, screen)).instance
    clock.advance(seconds)
    if instance.kind == "short":
        await pilot.press(*"keys and values")
    else:
        shown = (
            [i for i, _ in screen.query_one(OrderAnswer).items]
            if instance.kind == "order"
            else None
        )
        await pilot.press(*correct_keys(instance, shown))
    await pilot.press("ctrl+s")
    await settle(pilot)


def test_a_mock_runs_to_time_up_and_submits_the_answer_on_screen(tmp_path: Path) -> None:
    asyncio.run(_mock_runs_to_time_up(tmp_path))


async def _mock_runs_to_time_up(tmp_path: Path) -> None:
    clock = FakeClock()
    app = make_app(tmp_path, clock=clock, start=StartMock("L2", 15))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MockScreen) and screen.mock is not None
        total = len(screen.mock.items)
        assert total >= 3
        assert "15:00 left" in screen_text(app)
        assert "budget" in screen_text(app)  # each question shows its soft budget
        await answer_correctly(pilot, clock, 40)
        await answer_correctly(pilot, clock, 50)
        assert screen.mock.answered == 2

        clock.advance(FIFTEEN_MIN_S - 90 - 4 * 60)  # four minutes left: warning style
        await screen.tick()
        assert screen.query_one(Countdown).has_class("-warning")
        clock.advance(3 * 60 + 30)  # thirty seconds left: alarm style
        await screen.tick()
        countdown = screen.query_one(Countdown)
        assert countdown.has_class("-alarm") and not countdown.has_class("-warning")

        current = (await question_view(pilot, screen)).instance
        await pilot.press(*correct_keys(current)[:1])  # a half-typed answer when time runs out
        clock.advance(31)
        await screen.tick()
        await settle(pilot)
        await settle(pilot)

        report_screen = app.screen
        assert isinstance(report_screen, MockReportScreen), screen_text(app)
        report = report_screen.report
        assert report["answered"] == 3 and report["total"] == total
        assert report["elapsed_s"] == FIFTEEN_MIN_S
        third = report["items"][2]
        assert third["answered"] and third["answer"].lower() == correct_keys(current)[0]
        assert [item["score"] for item in report["items"][:2]] == [1.0, 1.0]
        assert not any(item["answered"] for item in report["items"][3:])
        text = screen_text(app)
        assert report["verdict"] in text and "not reached" in text
        await pilot.press("down")  # walk through the answers
        await pilot.pause()
        assert f"2. {report['items'][1]['title']}" in screen_text(app)
        stored = app.backend.store.attempts(mode="mock")
        assert len(stored) == 3


def test_a_mock_killed_mid_session_resumes_with_the_time_away_counted(tmp_path: Path) -> None:
    asyncio.run(_mock_resumes(tmp_path))


async def _mock_resumes(tmp_path: Path) -> None:
    clock = FakeClock()
    first = make_app(tmp_path, clock=clock, start=StartMock("L2", 15))
    async with first.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await answer_correctly(pilot, clock, 60)
        await answer_correctly(pilot, clock, 60)
        clock.advance(30)  # thinking about question 3, then the process is killed:
        first.exit()  # no quit action, so nothing is saved after the last answer
        await settle(pilot)
    clock.advance(66)  # away for 66 s: a real interview's clock keeps running

    second = make_app(tmp_path, clock=clock)
    async with second.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(second.screen, HomeScreen)
        assert "Unfinished mock interview: L2, 2/" in screen_text(second)
        assert "11:24 left" in screen_text(second)  # 15:00 - 150 s answering - 66 s away
        await pilot.press("r")
        await settle(pilot)
        screen = second.screen
        assert isinstance(screen, MockScreen) and screen.mock is not None
        assert screen.mock.answered == 2
        assert screen.mock.remaining_s() == FIFTEEN_MIN_S - 216
        assert "Question 3/" in screen_text(second)
        while isinstance(second.screen, MockScreen):
            clock.advance(10)
            await pilot.press("ctrl+s")  # blank: passes on the question
            await settle(pilot)
        report_screen = second.screen
        assert isinstance(report_screen, MockReportScreen)
        report = report_screen.report
        assert report["answered"] == report["total"]
        assert [item["score"] for item in report["items"][:2]] == [1.0, 1.0]
        assert report["items"][2]["duration_s"] == 30 + 66 + 10  # the time away counts
        assert report["status"] == "finished"
        [away] = report["away"]  # from the last save (the second answer) to the resume
        assert away["seconds"] == 30 + 66
        top = screen_text(second).splitlines()[:6]  # the report opens at its headline
        assert any(report["verdict"] in line and "score" in line for line in top), top
        assert "(1:36, counted)" in screen_text(second)


def test_starting_a_second_mock_asks_to_resume_or_abandon_the_first(tmp_path: Path) -> None:
    asyncio.run(_second_mock(tmp_path))


async def _second_mock(tmp_path: Path) -> None:
    from quiz.tui.screens.mock_choice import ResumeOrAbandonModal

    clock = FakeClock()
    app = make_app(tmp_path, clock=clock, start=StartMock("L2", 15))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.screen
        assert isinstance(first, MockScreen) and first.mock is not None
        first_id = first.mock.session_id
        await answer_correctly(pilot, clock, 30)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)

        await pilot.press("m")  # a new mock: the setup screen, then start
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ResumeOrAbandonModal)
        assert f"#{first_id}: L2, 15 min, 1/" in screen_text(app)
        await pilot.press("r")  # resume the first one
        await settle(pilot)
        resumed = app.screen
        assert isinstance(resumed, MockScreen) and resumed.mock is not None
        assert resumed.mock.session_id == first_id and resumed.mock.answered == 1
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("m")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("a")  # abandon it and start the new one
        await settle(pilot)
        fresh = app.screen
        assert isinstance(fresh, MockScreen) and fresh.mock is not None
        assert fresh.mock.session_id != first_id and fresh.mock.answered == 0
        abandoned = app.backend.mock_report(first_id)
        assert abandoned["status"] == "abandoned"
        assert all(item["prompt"] is None for item in abandoned["items"][1:])
        assert [m["session_id"] for m in app.backend.unfinished_mocks()] == [fresh.mock.session_id]


def test_a_practical_item_is_skipped_by_key_and_button_and_survives_a_resume(
    tmp_path: Path,
) -> None:
    asyncio.run(_practical_item_skipped(tmp_path))


async def current_kind(pilot: Pilot) -> str:
    screen = pilot.app.screen
    assert isinstance(screen, MockScreen), screen_text(pilot.app)
    return (await question_view(pilot, screen)).instance.kind


async def _practical_item_skipped(tmp_path: Path) -> None:
    clock = FakeClock()
    bank = TINY_BANK + PRACTICAL_QUESTION
    first = make_app(tmp_path, clock=clock, bank_text=bank, start=StartMock("L2", 15))
    async with first.run_test(size=SIZE) as pilot:
        await settle(pilot)
        while await current_kind(pilot) != "practical":
            clock.advance(10)
            await pilot.press("ctrl+s")
            await settle(pilot)
        await pilot.press("escape")  # leave on the practical item
        await settle(pilot)
        assert isinstance(first.screen, HomeScreen)
        await pilot.press("r")
        await settle(pilot)
        assert await current_kind(pilot) == "practical"  # resumed on the same item
        clock.advance(10)
        await pilot.press("ctrl+s")  # skip by key
        await settle(pilot)
        assert await current_kind(pilot) != "practical"
        await pilot.press("q")
        await settle(pilot)
    assert first.return_code == 0

    second = make_app(tmp_path, clock=clock, bank_text=bank)
    async with second.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        while isinstance(second.screen, MockScreen):
            clock.advance(10)
            await pilot.click("#submit")  # the button, on every remaining item
            await settle(pilot)
        report = second.screen.report  # type: ignore[attr-defined]
        practical = next(i for i in report["items"] if i["kind"] == "practical")
        assert practical["answered"] and practical["score"] == 0.0
        assert report["answered"] == report["total"]


def test_run_app_returns_the_apps_exit_code_when_it_crashed(monkeypatch: object) -> None:
    from quiz.tui import app as app_module

    def crashed_run(self: app_module.LatencyQuizApp, **_: object) -> None:
        self._return_code = 1  # what Textual sets when an exception ends the app

    monkeypatch.setattr(app_module.LatencyQuizApp, "run", crashed_run)  # type: ignore[attr-defined]
    assert app_module.run_app("sqlite://") == 1


def test_time_running_out_while_away_ends_the_mock_with_its_report(tmp_path: Path) -> None:
    asyncio.run(_time_out_while_away(tmp_path))


async def _time_out_while_away(tmp_path: Path) -> None:
    clock = FakeClock()
    first = make_app(tmp_path, clock=clock, start=StartMock("L2", 15))
    async with first.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await answer_correctly(pilot, clock, 60)
        await pilot.press("escape")  # leave: saved, and the clock keeps running
        await settle(pilot)
    clock.advance(20 * 60)

    second = make_app(tmp_path, clock=clock)
    async with second.run_test(size=SIZE) as pilot:
        await settle(pilot)
        home = second.screen
        assert isinstance(home, HomeScreen)
        assert "its time ran out while you were away" in home._resume_line()
        assert "its time ran out while" in screen_text(second)
        await pilot.press("r")
        await settle(pilot)
        await settle(pilot)
        assert isinstance(second.screen, MockReportScreen), screen_text(second)
        report = second.screen.report
        assert report["answered"] == 1 and report["elapsed_s"] == FIFTEEN_MIN_S
        [away] = report["away"]
        assert away["seconds"] == 20 * 60 and away["counted_s"] == FIFTEEN_MIN_S - 60
        assert "14:00 counted (then time ran out)" in screen_text(second)


def test_a_practice_mode_mock_pauses_while_away_and_says_so(tmp_path: Path) -> None:
    asyncio.run(_practice_mode(tmp_path))


async def _practice_mode(tmp_path: Path) -> None:
    clock = FakeClock()
    app = make_app(tmp_path, clock=clock, start=StartMock("L2", 15, practice_mode=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await answer_correctly(pilot, clock, 30)
        await pilot.press("escape")  # pause
        await settle(pilot)
        clock.advance(600)  # ten minutes looking things up: not counted
        assert "(paused: practice mode)" in app.screen._resume_line()  # type: ignore[attr-defined]
        await pilot.press("r")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MockScreen) and screen.mock is not None
        assert screen.mock.remaining_s() == FIFTEEN_MIN_S - 30
        assert "practice mode" in screen_text(app)
        while isinstance(app.screen, MockScreen):
            clock.advance(10)
            await pilot.press("ctrl+s")
            await settle(pilot)
        report = app.screen.report  # type: ignore[attr-defined]
        assert report["practice_mode"] and report["away"][0]["counted_s"] == 0
        text = screen_text(app)
        assert "practice mode (pauses not counted)" in text
        assert "paused, not counted" in text


@pytest.mark.parametrize("answer_on_screen", [True, False])
def test_finishing_early_asks_then_submits_the_answer_on_screen(
    tmp_path: Path, answer_on_screen: bool
) -> None:
    """With nothing on screen, that question counts as not reached rather than passed on."""
    asyncio.run(_finish_early(tmp_path, answer_on_screen))


async def _finish_early(tmp_path: Path, answer_on_screen: bool) -> None:
    clock = FakeClock()
    app = make_app(tmp_path, clock=clock, start=StartMock("L2", 15))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MockScreen) and screen.mock is not None
        total = len(screen.mock.items)
        await answer_correctly(pilot, clock, 40)
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert isinstance(app.screen, FinishNowModal)
        assert f"the {total - 2} questions after it count as unanswered" in screen_text(app)
        await pilot.press("enter")  # the prompt's default is to keep going: nothing recorded
        await settle(pilot)
        assert app.screen is screen and screen.mock.answered == 1
        await pilot.press("ctrl+f", "escape")
        await settle(pilot)
        assert app.screen is screen and screen.mock.answered == 1

        if answer_on_screen:
            current = (await question_view(pilot, screen)).instance
            await pilot.press(*correct_keys(current))
        clock.advance(30)
        await pilot.press("ctrl+f", "f")
        await settle(pilot)
        await settle(pilot)
        report_screen = app.screen
        assert isinstance(report_screen, MockReportScreen), screen_text(app)
        report = report_screen.report
        answered = 2 if answer_on_screen else 1
        assert report["answered"] == answered and report["total"] == total
        assert [item["score"] for item in report["items"][:answered]] == [1.0] * answered
        assert not any(item["answered"] for item in report["items"][answered:])
        assert report["elapsed_s"] == 70
        assert len(app.backend.store.attempts(mode="mock")) == answered


def test_quitting_while_the_report_opens_raises_nothing(tmp_path: Path) -> None:
    """The self-check screen opens the report when its worker is done; quitting at that moment
    (in CI: a test ending under load) mounted the report with no children, and its on_mount
    raised NoMatches on the way out."""
    asyncio.run(_quit_while_the_report_opens(tmp_path))


async def _quit_while_the_report_opens(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        backend = app.backend
        report = backend.finish_mock(backend.start_mock("L2", 15))
        app.exit()
        await app.push_screen(MockReportScreen(report))


def test_walking_the_report_shows_each_answer_when_markdown_renders_slowly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual parses Markdown in a thread. Walking to a question whose prompt is longer than the
    last one's must still leave its answer in view, not where the old prompt's height put it."""
    slow_markdown_parsing(monkeypatch, 0.3)
    asyncio.run(_walk_the_report(tmp_path, prompts_of_growing_length(TINY_BANK)))


def prompts_of_growing_length(bank: str) -> str:
    lines = bank.splitlines()
    prompts = [n for n, line in enumerate(lines) if line.startswith("  prompt: ")]
    for rank, n in enumerate(prompts):
        lines[n] += " Read it twice." * (12 * rank)
    return "\n".join(lines) + "\n"


async def _walk_the_report(tmp_path: Path, bank: str) -> None:
    app = make_app(tmp_path, bank_text=bank)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        backend = app.backend
        report = backend.finish_mock(backend.start_mock("L2", 15))
        assert len(report["items"]) >= 3
        screen = MockReportScreen(report)
        await app.push_screen(screen)
        await settle(pilot)
        body = screen.query_one("#report-body")
        heights = set()
        for index in range(1, len(report["items"])):
            await pilot.press("down")
            for _ in range(20):  # the slow parse, then the layout it changes
                await pilot.pause(0.05)
            prompt = screen.query_one("#walk-prompt", Markdown)
            assert prompt.source == report["items"][index]["prompt"]
            heights.add(prompt.size.height)
            answer = screen.query_one("#walk-answer").virtual_region
            top, bottom = body.scroll_offset.y, body.scroll_offset.y + body.size.height
            assert top <= answer.y and answer.bottom <= bottom, (index, answer, top, bottom)
            assert "finished early" in screen_text(app)  # finish_mock at once: nothing answered
        assert len(heights) > 1, "the test needs prompts of different heights"


def test_an_unreached_question_says_why() -> None:
    report = {"status": "finished", "elapsed_s": 120.0, "time_limit_s": 900}
    assert not_reached_text(report) == "Not reached: the interview was finished early."
    assert (
        not_reached_text({**report, "elapsed_s": 900.0}) == "Not reached before the time ran out."
    )
    abandoned = not_reached_text({**report, "status": "abandoned"})
    assert abandoned.startswith("Not reached: the interview was abandoned")


def test_the_setup_shows_its_picks_without_colour(tmp_path: Path) -> None:
    """Textual's radio buttons and checkboxes draw the same mark on and off (colour alone tells
    them apart); here only the picked level and length, and a ticked box, show a mark."""
    asyncio.run(_setup_picks_without_colour(tmp_path))


async def _setup_picks_without_colour(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        lines = screen_text(app).splitlines()

        def marked(words: str) -> str:
            line = next(line for line in lines if words in line)
            return line[: line.index(words)].replace("▐", "").replace("▌", "").strip(" ▊")

        assert [marked(f"{level} · ") for level in ("L1", "L2", "L3", "L4")] == ["", "●", "", ""]
        assert [marked(f"{n} minutes") for n in (15, 30, 45, 60)] == ["", "●", "", ""]
        assert marked("Practice mode") == ""
        app.screen.query_one("#mock-practice-mode", Checkbox).value = True
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert marked("Practice mode") == "X"
        # the level is focused on opening: the arrows and enter pick one without a tab first
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert [marked(f"{level} · ") for level in ("L1", "L2", "L3", "L4")] == ["", "", "●", ""]
