"""The Textual front end. ``run_app`` is what ``latency-quiz`` with no command calls;
``create_app`` builds the app for it, for ``latency-quiz mock`` and for the tests."""

from quiz.tui.app import LatencyQuizApp, StartMock, create_app, run_app

__all__ = ["LatencyQuizApp", "StartMock", "create_app", "run_app"]
