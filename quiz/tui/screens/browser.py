"""The question browser: search, filter by phase / level / topic / kind / flagged / suspended
/ due, open a question to practise it, flag it, suspend it (out of the review queue).
Keyboard first: / searches, enter opens, f flags, s suspends, c clears the filters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Select, Static

from quiz.study.browse import SHOW, filter_rows
from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.home.phase_card import PHASE_NAMES

if TYPE_CHECKING:
    from quiz.bank import Instance
    from quiz.lab.catalog import Practical
    from quiz.study.browse import BrowseRow

LEVELS = ("L1", "L2", "L3", "L4")
KINDS = ("choice", "multi", "numeric", "estimate", "order", "short", "practical")
FILTERS = ("phase", "level", "topic", "kind")


class BrowserScreen(QuizScreen):
    """Every question of the bank in one table."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="browser.back"),
        Binding("slash", "search", "Search", id="browser.search", key_display="/"),
        Binding("f", "flag", "Flag", id="browser.flag"),
        Binding("s", "suspend", "Suspend", id="browser.suspend"),
        Binding("c", "clear", "Clear filters", id="browser.clear"),
    ]

    class Loaded(Message):
        def __init__(self, rows: list[BrowseRow]) -> None:
            super().__init__()
            self.rows = rows

    class Opened(Message):
        def __init__(self, instance: Instance, practical: Practical | None) -> None:
            super().__init__()
            self.instance = instance
            self.practical = practical  # a practical question opens its practical's page

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[BrowseRow] = []
        self.shown: list[BrowseRow] = []

    def compose(self) -> ComposeResult:
        yield QuizHeader()
        yield Input(placeholder="search id, title, topic or prompt  (/)", id="browser-search")
        with Horizontal(id="browser-filters"):
            yield Select(
                [(PHASE_NAMES.get(p, p), p) for p in PHASE_NAMES], prompt="phase", id="filter-phase"
            )
            yield Select([(level, level) for level in LEVELS], prompt="level", id="filter-level")
            yield Select([], prompt="topic", id="filter-topic")
            yield Select([(kind, kind) for kind in KINDS], prompt="kind", id="filter-kind")
            yield Select([(s, s) for s in SHOW], value="all", allow_blank=False, id="filter-show")
        yield Static("Loading…", id="browser-count", classes="hint")
        yield DataTable(id="browser-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Question browser"
        table = self.query_one(DataTable)
        table.add_column("marks", key="marks", width=5)
        table.add_column("level", key="level", width=5)
        table.add_column("kind", key="kind", width=9)
        table.add_column("last", key="last", width=4)
        table.add_column("title", key="title")
        self.when_backend_ready(self.load)

    @work(thread=True, exclusive=True, exit_on_error=False, group="browser-load")
    def load(self) -> None:
        self.post_message(self.Loaded(self.backend.browse_rows()))

    def on_browser_screen_loaded(self, message: Loaded) -> None:
        first_load = not self.rows
        self.rows = message.rows
        if first_load:
            topics = sorted({row.topic for row in self.rows})
            self.query_one("#filter-topic", Select).set_options((t, t) for t in topics)
            self.query_one(DataTable).focus()
        self.refilter()

    def on_screen_resume(self) -> None:
        if self.backend_ready:
            self.load()  # a question practised from here may have changed its last score

    # Filtering -----------------------------------------------------------------------------

    def _filter_value(self, name: str) -> str | None:
        value = self.query_one(f"#filter-{name}", Select).value
        return value if isinstance(value, str) else None

    def refilter(self) -> None:
        table = self.query_one(DataTable)
        keep = self.shown[table.cursor_row].question_id if self.shown and table.row_count else None
        self.shown = filter_rows(
            self.rows,
            search=self.query_one("#browser-search", Input).value,
            show=self._filter_value("show") or "all",
            **{name: self._filter_value(name) for name in FILTERS},
        )
        table.clear()
        for row in self.shown:
            table.add_row(*self._cells(row), key=row.question_id)
        noun = "question" if len(self.rows) == 1 else "questions"
        self.query_one("#browser-count", Static).update(
            f"{len(self.shown)} of {len(self.rows)} {noun} · enter practises · f flags · "
            "s suspends (out of the review queue)"
        )
        ids = [row.question_id for row in self.shown]
        if keep in ids:
            table.move_cursor(row=ids.index(keep))

    @staticmethod
    def _cells(row: BrowseRow) -> tuple[str, ...]:
        marks = ("⚑" if row.flagged else " ") + ("⏸" if row.suspended else " ")
        marks += "due" if row.due else ""
        last = "—" if row.last_score is None else f"{row.last_score:.0%}"
        return (marks, row.level, row.kind, last, row.title)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "browser-search":
            self.refilter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self.rows:
            self.refilter()

    def action_search(self) -> None:
        self.query_one("#browser-search", Input).focus()

    def action_clear(self) -> None:
        self.query_one("#browser-search", Input).value = ""
        for name in FILTERS:
            self.query_one(f"#filter-{name}", Select).clear()
        self.query_one("#filter-show", Select).value = "all"
        self.refilter()

    def action_back(self) -> None:
        if not isinstance(self.focused, DataTable):
            self.query_one(DataTable).focus()  # escape leaves the search box first
        else:
            self.app.pop_screen()

    # Marks and opening ---------------------------------------------------------------------

    @property
    def current(self) -> BrowseRow | None:
        table = self.query_one(DataTable)
        if not self.shown or not table.row_count:
            return None
        return self.shown[table.cursor_row]

    def action_flag(self) -> None:
        row = self.current
        if row is not None:
            self.mark(row.question_id, flagged=not row.flagged)

    def action_suspend(self) -> None:
        row = self.current
        if row is not None:
            self.mark(row.question_id, suspended=not row.suspended)

    @work(thread=True, exit_on_error=False, group="browser-mark")
    def mark(
        self, question_id: str, *, flagged: bool | None = None, suspended: bool | None = None
    ) -> None:
        self.backend.set_question_flag(question_id, flagged=flagged, suspended=suspended)
        self.post_message(self.Loaded(self.backend.browse_rows()))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_question(event.row_key.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="browser-open")
    def open_question(self, question_id: str) -> None:
        instance = self.backend.question_instance(question_id)
        practical = None
        if instance.practical:
            found = [p for p in self.backend.practicals() if p.id == instance.practical]
            practical = found[0] if found else None
        self.post_message(self.Opened(instance, practical))

    def on_browser_screen_opened(self, message: Opened) -> None:
        from quiz.tui.screens.practical import PracticalScreen
        from quiz.tui.screens.practice import PracticeScreen

        if message.practical is not None:
            self.app.push_screen(PracticalScreen(message.practical))
        else:
            self.app.push_screen(PracticeScreen([message.instance]))
