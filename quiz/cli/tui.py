"""`latency-quiz mock`: open the app straight into a timed mock interview."""

from __future__ import annotations

import argparse

from quiz.cli._common import CliContext

LEVELS = ["L1", "L2", "L3", "L4"]
MOCK_MINUTES = [15, 30, 45, 60]


def register(subparsers: argparse._SubParsersAction) -> None:
    mock = subparsers.add_parser(
        "mock",
        help="sit a timed mock interview in the terminal app",
        description="Open the app straight into a mock interview: questions drawn for LEVEL, "
        "fitting MINUTES, no feedback until the report at the end. Saved after every answer; "
        "an unfinished one can be resumed from the home screen. The clock is wall-clock, as in "
        "a real interview: time away counts. One mock runs at a time: with one unfinished, "
        "the app asks whether to resume it or abandon it.",
    )
    mock.add_argument("--level", choices=LEVELS, default="L2", help="target level (default L2)")
    mock.add_argument(
        "--minutes",
        type=int,
        choices=MOCK_MINUTES,
        default=30,
        metavar="M",
        help="length in minutes: 15, 30, 45 or 60 (default 30)",
    )
    mock.add_argument(
        "--practice-mode",
        action="store_true",
        help="leaving pauses the clock (the report says so); not interview conditions",
    )
    mock.set_defaults(func=cmd_mock)


def cmd_mock(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.tui import StartMock, run_app

    start = StartMock(args.level, args.minutes, practice_mode=args.practice_mode)
    return run_app(db_url=ctx.db_url, start_screen=start)
