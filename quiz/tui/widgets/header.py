"""The header every screen shows: Textual's, without a crash on a screen being taken down."""

from __future__ import annotations

from textual.events import Mount
from textual.widget import Widget
from textual.widgets import Header
from textual.widgets._header import HeaderTitle


class QuizHeader(Header):
    """Textual's ``Header`` whose title follows the app's and the screen's titles as before.

    Textual's own watchers look up the title child with ``query_one`` when a title changes; a
    change that reaches a header whose screen is being removed (the child already gone, the header
    not yet) raised ``NoMatches`` and stopped the app. Seen once in CI, at the end of a mock
    interview; reproduced by removing the title child and changing the screen's title.
    """

    def on_mount(self, event: Mount) -> None:
        event.prevent_default()  # Header's own handler would add the crashing watchers
        Widget._on_mount(self, event)
        for source in (self.app, self.screen):
            for attribute in ("title", "sub_title"):
                self.watch(source, attribute, self._show_title)

    def _show_title(self) -> None:
        if not self.is_attached:
            return
        for title in self.query(HeaderTitle):
            title.update(self.format_title())
