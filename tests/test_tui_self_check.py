"""The self-check of a short answer in the app: key points with the detected ones pre-ticked,
the user's corrections, and the confirmed score."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.widgets import Checkbox

from quiz.bank import instantiate, load_bank
from quiz.grading import grade
from quiz.tui.widgets.question.self_check import SelfCheck, SelfCheckConfirmed

PTQ = instantiate(load_bank().get("what-is-ptq"))
UNSURE = grade(
    PTQ,
    "You take the finished network and squeeze every number in it into a smaller box, "
    "picking the box sizes from a handful of example prompts; the chip then spends less of "
    "each step waiting on its memory.",
)


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.confirmed: list[SelfCheckConfirmed] = []

    def compose(self) -> ComposeResult:
        yield SelfCheck(PTQ, UNSURE)

    def on_self_check_confirmed(self, message: SelfCheckConfirmed) -> None:
        self.confirmed.append(message)


def test_detected_points_are_pre_ticked_and_corrections_are_the_score() -> None:
    asyncio.run(_corrections_are_the_score())


async def _corrections_are_the_score() -> None:
    assert UNSURE.needs_self_check
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        boxes = list(app.query(Checkbox))
        assert [b.value for b in boxes] == [p.status == "covered" for p in UNSURE.points]
        for box in boxes:  # the user ticks every point but the last
            box.value = box is not boxes[-1]
        await pilot.pause()
        score = str(app.query_one("#self-check-score").render())
        assert "Score with these ticks: 89%" in score
        await pilot.press("ctrl+y")
        await pilot.pause()
        (message,) = app.confirmed
        assert message.covered == frozenset(range(len(boxes) - 1))
        assert message.verdict.score == 8 / 9 and message.verdict.correct
        assert all(box.disabled for box in boxes)
        await pilot.press("ctrl+y")  # once only
        await pilot.pause()
        assert len(app.confirmed) == 1
