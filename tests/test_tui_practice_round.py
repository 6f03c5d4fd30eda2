"""A practice round's skip ("I don't know"), its summary of misses when left early, and a
retry of exactly those misses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, cast

from quiz.bank.prose import unwrapped
from quiz.grading import Verdict
from quiz.tui.screens.home import HomeScreen
from quiz.tui.screens.practice import PracticeScreen
from quiz.tui.widgets.question.feedback import verdict_text
from quiz.tui.widgets.question.round_summary import RoundResult, RoundSummary, tally
from tests.test_tui_practice import answer_current, wait_ready
from tests.test_tui_support import current_screen, make_app, screen_text

if TYPE_CHECKING:
    from quiz.bank import Instance

SIZE = (100, 30)


def test_skip_leave_early_and_retry_the_misses(tmp_path: Path) -> None:
    asyncio.run(_skip_leave_early_and_retry(tmp_path))


async def _skip_leave_early_and_retry(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_ready(pilot)
        screen = current_screen(app, PracticeScreen)
        skipped = screen.instance
        await pilot.press("ctrl+g")  # I don't know
        await wait_ready(pilot)
        assert screen.verdict is not None and screen.verdict.score == 0
        assert "Expected" in screen_text(app) or "Model answer" in screen_text(app)
        [attempt] = app.backend.store.attempts()
        assert (attempt.question_id, attempt.answer, attempt.rating) == (skipped.question_id, "", 1)
        await pilot.press("n")
        await wait_ready(pilot)
        answered = screen.instance
        await answer_current(pilot, screen)
        if answered.kind == "short":
            await pilot.press("3")
            await wait_ready(pilot)
        await pilot.press("n")
        await wait_ready(pilot)

        await pilot.press("escape")  # mid-round: the summary, not a silent exit
        await wait_ready(pilot)
        assert app.screen is screen and screen.finished
        summary = screen.query_one(RoundSummary)
        assert [r.instance.question_id for r in summary.results if r.missed] == [
            skipped.question_id
        ]
        text = screen_text(app)
        assert "Round left early." in text and "1 skipped" in text and "Misses (1)" in text
        assert "I don't know" in text

        await pilot.press("r")  # retry my misses
        await wait_ready(pilot)
        retry = app.screen
        assert isinstance(retry, PracticeScreen) and retry is not screen
        assert [i.question_id for i in retry.instances] == [skipped.question_id]
        await answer_current(pilot, retry)
        if skipped.kind == "short":
            await pilot.press("3")
            await wait_ready(pilot)
        await pilot.press("n")
        await wait_ready(pilot)
        assert "Round done." in screen_text(app) and "No misses." in screen_text(app)
        await pilot.press("escape")  # from the summary: home, in one key
        await wait_ready(pilot)
        assert isinstance(app.screen, HomeScreen)


def test_expected_answers_reflow_but_keep_lists_and_paragraphs() -> None:
    model_answer = (
        "First confirm it with evidence: a trace shows idle gaps on\n"
        "the GPU between batches.\n\nThen fix it:\n- more workers\n- pinned memory\n"
    )
    assert unwrapped(model_answer) == (
        "First confirm it with evidence: a trace shows idle gaps on the GPU between batches."
        "\n\nThen fix it:\n- more workers\n- pinned memory"
    )
    assert unwrapped("A (one line)") == "A (one line)"
    assert unwrapped("weights take\n70.6 GB and\n-3 dB") == "weights take 70.6 GB and -3 dB"


def test_an_unchecked_short_answer_is_not_called_partly_right() -> None:
    """An unsure short answer left before its key points were ticked was summed up as "Partly
    right — score 10%": its score is the grader's provisional guess, not a verdict."""
    unsure = Verdict(0.1, False, "", "key", needs_self_check=True)
    partly = Verdict(0.5, False, "", "key")
    results = [
        RoundResult(cast("Instance", None), verdict, "an answer")
        for verdict in (unsure, partly, Verdict(1.0, True, "", "key"))
    ]
    assert tally(results, 5) == (
        "3 of 5 questions answered: 1 right, 1 partly right, 0 wrong, 0 skipped, "
        "1 not checked · average score 53%"
    )
    assert tally(results[1:], 5).endswith("0 skipped · average score 75%")
    line = verdict_text(unsure.score, unsure.correct, unchecked=True).plain
    assert line == "? Not sure — 10%, key points not checked"
    assert verdict_text(partly.score, partly.correct).plain.startswith("◐ Partly right")
