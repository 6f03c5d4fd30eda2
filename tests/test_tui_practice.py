"""Practice rounds driven with the Pilot: every kind answered, and the awkward cases (nothing
matches, a one-question bank, a resize mid-question, a huge pasted answer)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static, TextArea

from quiz.tui.backend import MAX_ANSWER_CHARS, PracticeFilters
from quiz.tui.screens.practice import PracticeScreen
from quiz.tui.screens.practice_setup import PracticeSetupScreen
from quiz.tui.widgets.question.feedback import FeedbackPanel
from quiz.tui.widgets.question.options import OptionsAnswer
from quiz.tui.widgets.question.order import OrderAnswer
from quiz.tui.widgets.question.text import NumberAnswer
from tests.test_tui_support import (
    TINY_BANK,
    correct_keys,
    make_app,
    screen_text,
    slow_markdown_parsing,
)

SIZE = (80, 24)


async def wait_ready(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def answer_current(pilot: Pilot, screen: PracticeScreen) -> None:
    instance = screen.instance
    if instance.kind == "short":
        assert instance.model_answer is not None
        text_area = screen.query_one(TextArea)
        text_area.post_message(events.Paste(instance.model_answer))
        await pilot.pause()
    else:
        shown = (
            [i for i, _ in screen.query_one(OrderAnswer).items]
            if instance.kind == "order"
            else None
        )
        await pilot.press(*correct_keys(instance, shown))
    await pilot.press("ctrl+s")
    await wait_ready(pilot)


def test_a_round_answers_every_kind_and_stores_each_attempt(tmp_path: Path) -> None:
    asyncio.run(_a_round_answers_every_kind_and_stores_each_attempt(tmp_path))


async def _a_round_answers_every_kind_and_stores_each_attempt(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PracticeSetupScreen)
        await pilot.press("ctrl+s")
        await wait_ready(pilot)
        screen = app.screen
        assert isinstance(screen, PracticeScreen)
        kinds = []
        for _ in range(len(screen.instances)):
            kinds.append(screen.instance.kind)
            await answer_current(pilot, screen)
            assert screen.verdict is not None and screen.verdict.correct, screen_text(app)
            assert "Correct" in screen_text(app)
            if screen.instance.kind == "short":
                assert "How well did you recall it" in screen_text(app)
                await pilot.press("3")  # Good
                await wait_ready(pilot)
            await pilot.press("n")
            await wait_ready(pilot)
        assert sorted(kinds) == ["choice", "estimate", "multi", "numeric", "order", "short"]
        assert "Round done" in screen_text(app)
        attempts = app.backend.store.attempts()
        assert len(attempts) == 6 and all(a.correct for a in attempts)
        assert {a.mode for a in attempts} == {"practice"}
        short = next(a for a in attempts if a.question_id == "tiny-short")
        assert short.rating == 3  # the self-rating (Good) steered the review


def test_a_filter_matching_nothing_says_so_and_stays(tmp_path: Path) -> None:
    asyncio.run(_a_filter_matching_nothing_says_so_and_stays(tmp_path))


async def _a_filter_matching_nothing_says_so_and_stays(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_ready(pilot)
        await pilot.press("p")
        await pilot.pause()
        setup = app.screen
        assert isinstance(setup, PracticeSetupScreen)
        setup.pick_round(PracticeFilters(phase="advanced", kind="numeric"))
        await wait_ready(pilot)
        assert app.screen is setup
        assert any("No questions match" in n.message for n in app._notifications)


def test_an_unreadable_number_is_not_stored_and_can_be_fixed(tmp_path: Path) -> None:
    asyncio.run(_an_unreadable_number_is_not_stored_and_can_be_fixed(tmp_path))


async def _an_unreadable_number_is_not_stored_and_can_be_fixed(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_ready(pilot)
        await app.push_screen(
            PracticeScreen(app.backend.pick_practice(PracticeFilters(kind="numeric")))
        )
        await pilot.pause()
        await pilot.press(*"lots", "enter")
        await wait_ready(pilot)
        screen = app.screen
        assert isinstance(screen, PracticeScreen) and screen.verdict is None
        assert app.backend.store.attempts() == []
        assert any(n.severity == "error" for n in app._notifications)
        await pilot.press("ctrl+a", "ctrl+k", *correct_keys(screen.instance), "enter")
        await wait_ready(pilot)
        assert screen.verdict is not None and screen.verdict.correct


def test_one_question_bank_resize_and_a_huge_paste(tmp_path: Path) -> None:
    asyncio.run(_one_question_bank_resize_and_a_huge_paste(tmp_path))


async def _one_question_bank_resize_and_a_huge_paste(tmp_path: Path) -> None:
    one_question = TINY_BANK[TINY_BANK.index("- id: tiny-short") :]
    app = make_app(tmp_path, bank_text=one_question)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        assert "1 question in the bank" in screen_text(app)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_ready(pilot)
        screen = app.screen
        assert isinstance(screen, PracticeScreen) and len(screen.instances) == 1
        await pilot.resize_terminal(50, 16)
        await pilot.pause()
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        huge = "keys and values so we never recompute them. " * 5000
        screen.query_one(TextArea).post_message(events.Paste(huge))
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_ready(pilot)
        assert screen.verdict is not None
        await pilot.press("n")  # moving on stores it without a self-rating
        await wait_ready(pilot)
        (attempt,) = app.backend.store.attempts()
        assert len(attempt.answer) == MAX_ANSWER_CHARS


def test_an_empty_bank_still_opens_home(tmp_path: Path) -> None:
    asyncio.run(_an_empty_bank_still_opens_home(tmp_path))


async def _an_empty_bank_still_opens_home(tmp_path: Path) -> None:
    app = make_app(tmp_path, bank_text=None)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_ready(pilot)
        assert "question bank is empty" in screen_text(app)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_ready(pilot)
        assert isinstance(app.screen, PracticeSetupScreen)
        assert any("No questions match" in n.message for n in app._notifications)


def test_a_broken_bank_is_reported_on_home_and_the_app_keeps_running(tmp_path: Path) -> None:
    asyncio.run(_a_broken_bank_is_reported(tmp_path))


async def _a_broken_bank_is_reported(tmp_path: Path) -> None:
    app = make_app(tmp_path, bank_text="- id: Not Kebab\n")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_ready(pilot)
        assert any("question bank has 1 problem" in n.message for n in app._notifications)
        assert "Could not start" in screen_text(app)
        await pilot.press("m")  # the app is still alive and navigable
        await pilot.pause()
        assert type(app.screen).__name__ == "MockSetupScreen"


def test_order_steps_are_picked_by_letter_and_marked_not_only_by_colour(tmp_path: Path) -> None:
    asyncio.run(_order_by_letter(tmp_path))


async def _order_by_letter(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        instances = app.backend.pick_practice(PracticeFilters(kind="order"))
        await app.push_screen(PracticeScreen(instances))
        await wait_ready(pilot)
        order = app.screen.query_one(OrderAnswer)
        order.focus()
        await pilot.pause()
        shown = [item_id for item_id, _ in order.items]
        wanted = shown[::-1]
        # Typing the letters in order puts the steps in that order (upper case too, as a user
        # typing "CFAEDB" did, whose keys then did nothing and the shown order was submitted).
        await pilot.press(wanted[0].lower(), wanted[0].lower(), *wanted[1:])
        await pilot.pause()
        assert [item_id for item_id, _ in order.items] == wanted
        assert order.highlight == len(order.items) - 1  # the last one typed, marked ▶
        assert f"▶ {len(order.items)}. {wanted[-1]}" in screen_text(app)
        await pilot.press("left_square_bracket")  # and moved up one
        await pilot.pause()
        assert order.items[-2][0] == wanted[-1]
        await pilot.press(shown[1].lower())  # a new order starts once every step was typed
        await pilot.pause()
        assert order.items[0][0] == shown[1] and order.highlight == 0
        keys = app.screen.query_one("#answer-keys", Static)
        assert "Type the letters in order" in str(keys.render()) and keys.display
        await pilot.press("enter")
        await wait_ready(pilot)
        assert not keys.display  # and not once the answer is in


def test_a_number_field_says_how_the_answer_may_be_typed() -> None:
    asyncio.run(_number_hints())


async def _number_hints() -> None:
    hints = [await _hint_of(NumberAnswer("", estimate=False))]
    hints.append(await _hint_of(NumberAnswer("ms", estimate=True)))
    hints.append(await _hint_of(NumberAnswer("count", estimate=False)))
    assert hints == [
        "A plain number: 0.4, 40% or 2/5 all work.",
        "Unit: ms (another unit of the same kind works too). An estimate: within 2× is full "
        "credit, 10× off is none.",
        "A plain number: 0.4, 40% or 2/5 all work.",  # not "Unit: count"
    ]


async def _hint_of(field: NumberAnswer) -> str:
    class OneField(App[None]):
        def compose(self) -> ComposeResult:
            yield field

    app = OneField()
    async with app.run_test(size=SIZE):
        return str(app.query_one(".hint", Static).render())


def test_a_long_option_wraps_under_its_own_text_not_under_its_letter() -> None:
    asyncio.run(_long_option_wraps())


async def _long_option_wraps() -> None:
    words = " ".join(f"word{n}" for n in range(40))
    for answer in (
        OptionsAnswer([("A", "short"), ("B", words)], multi=True),
        OrderAnswer([("A", "short"), ("B", words)]),
    ):
        lines = await _shown_alone(answer)
        first = next(i for i, line in enumerate(lines) if "word0 " in line)
        indent = lines[first].index("word0")
        wrapped = [line for line in lines[first + 1 :] if "word" in line]
        assert len(wrapped) >= 2, lines
        for line in wrapped:
            assert line[:indent].strip(" ▊▎│") == "", (line, indent)
            assert line[indent] != " ", (line, indent)


async def _shown_alone(widget: Widget) -> list[str]:
    class OneWidget(App[None]):
        def compose(self) -> ComposeResult:
            yield widget

    app = OneWidget()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        return [line.rstrip() for line in screen_text(app).splitlines()]


LONG_EXPLANATION = " ".join(f"Sentence {n} of a long explanation." for n in range(1, 80))


def test_the_verdict_opens_at_the_top_even_when_markdown_renders_slowly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual parses Markdown in a thread, so on a loaded machine the explanation arrives after
    the first refresh. The verdict must still open at the top of the view, with Next focused
    but not scrolled to (the explanation here is taller than the view)."""
    slow_markdown_parsing(monkeypatch, 0.5)
    bank = TINY_BANK.replace(
        "explanation: Throughput counts work per unit time. Latency is the time one request takes.",
        f"explanation: {LONG_EXPLANATION}",
    )
    asyncio.run(_the_verdict_opens_at_the_top(tmp_path, bank))


async def _the_verdict_opens_at_the_top(tmp_path: Path, bank: str) -> None:
    app = make_app(tmp_path, bank_text=bank)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        filters = PracticeFilters(kind="choice")
        await app.push_screen(PracticeScreen(app.backend.pick_practice(filters)))
        await wait_ready(pilot)
        await pilot.press("b", "enter")
        await wait_ready(pilot)
        for _ in range(30):  # the slow parse, then the layout it changes
            await pilot.pause(0.05)
        body = app.screen.query_one("#practice-body", VerticalScroll)
        panel = app.screen.query_one(FeedbackPanel)
        assert panel.size.height > body.size.height, "the test needs a panel taller than the view"
        assert body.scroll_offset.y == panel.virtual_region_with_margin.y
        assert "Not right" in screen_text(app)
        assert app.focused is app.screen.query_one("#next")


def test_next_pressed_while_the_feedback_is_laid_out_moves_on_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_markdown_parsing(monkeypatch, 0.5)
    asyncio.run(_next_pressed_while_the_feedback_is_laid_out(tmp_path))


async def _next_pressed_while_the_feedback_is_laid_out(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        screen = PracticeScreen(app.backend.pick_practice(PracticeFilters(kind="choice")))
        await app.push_screen(screen)
        await wait_ready(pilot)
        await pilot.press("b", "enter")
        while screen.verdict is None:  # graded: the feedback is being laid out (slow parse)
            await asyncio.sleep(0.01)
        await pilot.press("n")
        for _ in range(30):
            await pilot.pause(0.05)
        assert screen.finished and "Round done" in screen_text(app), screen_text(app)
        assert not screen.query(FeedbackPanel) and not screen.query("#next")
        assert app.screen is screen and app.return_value is None
