"""The practicals: phase, level, device, whether they can run here, and the last result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader

if TYPE_CHECKING:
    from quiz.lab.catalog import Availability, Practical
    from quiz.store import PracticalRunRow


class PracticalsScreen(QuizScreen):
    """enter opens a practical's page."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="practicals.back")]

    class Loaded(Message):
        def __init__(
            self, practicals: list[Practical], last: dict[str, PracticalRunRow], passed: set[str]
        ) -> None:
            super().__init__()
            self.practicals = practicals
            self.last = last
            self.passed = passed  # passed by the user's own code at least once (as home counts)

    def __init__(self) -> None:
        super().__init__()
        self.practicals: dict[str, Practical] = {}

    def compose(self) -> ComposeResult:
        yield QuizHeader()
        with VerticalScroll(id="practicals-body"):
            yield Static(
                "Hands-on tasks measured on this machine. Enter opens one.", classes="hint"
            )
            yield DataTable(id="practicals-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Practicals"
        self.when_backend_ready(self.load)

    def on_screen_resume(self) -> None:
        if self.backend_ready:
            self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="practicals")
    def load(self) -> None:
        practicals = self.backend.practicals()
        for practical in practicals:
            _ = practical.availability  # probes the GPU once, here rather than on the UI thread
        from quiz.study.mastery import OWN_WORK_SOURCES

        runs = self.backend.practical_runs()
        last = {run.practical_id: run for run in runs}
        passed = {r.practical_id for r in runs if r.passed and r.source in OWN_WORK_SOURCES}
        self.post_message(self.Loaded(practicals, last, passed))

    def on_practicals_screen_loaded(self, message: Loaded) -> None:
        self.practicals = {p.id: p for p in message.practicals}
        table = self.query_one(DataTable)
        table.clear(columns=True)
        # the id (what the CLI takes) first, the long title last: the short columns stay
        # visible in an 80-column terminal
        rows = [
            (
                practical.id,
                practical.spec.level,
                practical.spec.device,
                _here(practical.availability),
                _result(message.last.get(practical.id), practical.id in message.passed),
                practical.spec.title,
            )
            for practical in message.practicals
        ]
        labels = ("id", "level", "device", "here", "result")
        # explicit widths: a reloaded table otherwise keeps the header's width for its cells
        widths = [
            max([len(label), *(len(row[i]) for row in rows)]) for i, label in enumerate(labels)
        ]
        for label, width in zip(labels, widths, strict=True):
            table.add_column(label, width=width)
        table.add_column("title")
        room = table.size.width - sum(widths) - 2 * table.cell_padding * (len(widths) + 1) - 1
        for row in rows:
            table.add_row(*row[:-1], _fit(row[-1], room), key=row[0])
        if not message.practicals:
            table.add_row("", "", "", "", "", "No practicals are installed.")
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        practical = self.practicals.get(str(event.row_key.value))
        if practical is not None:
            from quiz.tui.screens.practical import PracticalScreen

            self.app.push_screen(PracticalScreen(practical))


def _here(availability: Availability) -> str:
    """yes, no, or "maybe" where it runs but may not be gradable here (its screen says why)."""
    if not availability.available:
        return "no"
    return "maybe" if availability.caveat else "yes"


def _result(last: PracticalRunRow | None, ever_passed: bool) -> str:
    """ "passed" once the user's code passed (what home counts), with a later failure noted."""
    if last is None:
        return "—"
    if last.passed:
        return "passed"
    if last.result.get("inconclusive"):
        failed = "inconclusive"
    else:
        failed = str(last.result.get("verdict") or "failed")
    failed = f"{failed} {last.score:.0%}"
    return f"passed (last {failed})" if ever_passed else failed


def _fit(text: str, room: int) -> str:
    """``text`` cut to ``room`` cells with an ellipsis (whole when the width is unknown)."""
    if room <= 8 or len(text) <= room:
        return text
    return text[: room - 1].rstrip() + "…"
