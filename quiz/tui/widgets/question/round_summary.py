"""The end of a practice round: the tally, then every miss with the answer given, the expected
answer and the explanation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static

from quiz.bank.prose import unwrapped
from quiz.tui.widgets.question.feedback import verdict_text

if TYPE_CHECKING:
    from quiz.bank import Instance
    from quiz.grading import Verdict


@dataclass(frozen=True)
class RoundResult:
    """One question of the round as it was answered (``skipped``: "I don't know")."""

    instance: Instance
    verdict: Verdict
    answer: str
    skipped: bool = False

    @property
    def missed(self) -> bool:
        return not self.verdict.correct


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def tally(results: list[RoundResult], total: int) -> str:
    unchecked = sum(1 for r in results if r.verdict.needs_self_check)
    right = sum(1 for r in results if r.verdict.correct)
    partly = sum(
        1
        for r in results
        if not r.verdict.correct and r.verdict.score > 0 and not r.verdict.needs_self_check
    )
    skipped = sum(1 for r in results if r.skipped)
    wrong = len(results) - right - partly - skipped - unchecked
    mean = sum(r.verdict.score for r in results) / len(results) if results else 0.0
    parts = [f"{right} right", f"{partly} partly right", f"{wrong} wrong", f"{skipped} skipped"]
    if unchecked:
        parts.append(f"{unchecked} not checked")
    head = f"{len(results)} of {plural(total, 'question')} answered"
    return f"{head}: {', '.join(parts)} · average score {mean:.0%}"


class RoundSummary(Vertical):
    """``results`` in the order answered; ``total`` questions were in the round."""

    DEFAULT_CSS = """
    RoundSummary { height: auto; }
    RoundSummary .miss { margin-top: 1; height: auto; }
    RoundSummary .miss-title { text-style: bold; }
    """

    def __init__(self, results: list[RoundResult], total: int, *, ended_early: bool) -> None:
        super().__init__(id="round-summary")
        self.results = results
        self.total = total
        self.ended_early = ended_early

    def compose(self) -> ComposeResult:
        heading = "Round left early." if self.ended_early else "Round done."
        yield Static(Text.assemble((heading + " ", "bold"), tally(self.results, self.total)))
        misses = [r for r in self.results if r.missed]
        if not misses:
            if self.results:
                yield Static("No misses.", classes="hint")
            return
        yield Static(f"Misses ({len(misses)})", classes="section-title")
        for number, miss in enumerate(misses, start=1):
            with Vertical(classes="miss"):
                title = miss.instance.title or miss.instance.question_id
                yield Static(f"{number}. {title}", classes="miss-title", markup=False)
                verdict = miss.verdict
                line = verdict_text(
                    verdict.score, verdict.correct, unchecked=verdict.needs_self_check
                )
                given = "I don't know" if miss.skipped else (miss.answer or "(blank)")
                line.append(f"\nYour answer: {given}", style="")
                line.append(f"\nExpected: {unwrapped(miss.verdict.expected)}", style="")
                yield Static(line)
                yield Markdown(miss.instance.explanation)
