"""The screens' header follows the app's and the screen's titles, and a title change that reaches
it while its screen is being taken down is ignored instead of stopping the app (Textual's own
Header raised NoMatches there; seen once in CI at the end of a mock interview)."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.widgets import Static
from textual.widgets._header import HeaderTitle

from quiz.tui.widgets.header import QuizHeader


class HeaderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield QuizHeader()
        yield Static("body")


def shown_title(app: App[None]) -> str:
    return app.screen.query_one(HeaderTitle).render().plain  # type: ignore[union-attr]


def test_the_header_shows_the_app_and_screen_titles_as_they_change() -> None:
    async def run() -> None:
        app = HeaderApp()
        async with app.run_test() as pilot:
            app.title = "latency-quiz"
            app.sub_title = "signed in as ada"
            await pilot.pause()
            assert shown_title(app) == "latency-quiz — signed in as ada"
            app.screen.title = "Practicals"
            await pilot.pause()
            assert shown_title(app) == "Practicals — signed in as ada"

    asyncio.run(run())


def test_a_title_change_after_the_title_widget_is_gone_does_not_stop_the_app() -> None:
    async def run() -> None:
        app = HeaderApp()
        async with app.run_test() as pilot:
            await pilot.pause()
            await app.screen.query_one(HeaderTitle).remove()
            app.screen.title = "changed while the screen goes"
            app.sub_title = "and the app's too"
            await pilot.pause()
            assert app.screen.query_one(QuizHeader).is_attached

    asyncio.run(run())
