"""The command line: a thin layer over quiz.bank, quiz.store, quiz.study and quiz.lab.

Each area registers its sub-commands from its own module (``register(subparsers)``); a handler
takes ``(args, ctx)`` and returns the exit code. A user mistake raises ``QuizError`` and becomes
one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from quiz import __version__, config
from quiz.cli import bank as bank_cmds
from quiz.cli import doctor as doctor_cmds
from quiz.cli import practical as practical_cmds
from quiz.cli import practice as practice_cmds
from quiz.cli import serve as serve_cmds
from quiz.cli import study as study_cmds
from quiz.cli import team as team_cmds
from quiz.cli import tui as tui_cmds
from quiz.cli._common import CliContext, OneLineParser
from quiz.errors import QuizError

AREAS = [
    bank_cmds,
    practice_cmds,
    tui_cmds,
    practical_cmds,
    study_cmds,
    doctor_cmds,
    team_cmds,
    serve_cmds,
]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="latency-quiz",
        description="Interview prep for AI latency optimization engineers. "
        "With no command, opens the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"latency-quiz {__version__}")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="SQLAlchemy database URL (default: SQLite in the user data dir; env LATENCY_QUIZ_DB)",
    )
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="whose attempts, cards, mocks and plan to use (default: env LATENCY_QUIZ_USER, "
        "else your login name)",
    )
    parser.add_argument(
        "--judge",
        metavar="URL",
        help="grade short answers also with your own OpenAI-compatible model server "
        "(vLLM, llama.cpp, Ollama), e.g. http://localhost:8000 (default: env "
        "LATENCY_QUIZ_JUDGE, else off; LATENCY_QUIZ_JUDGE_MODEL names the model)",
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineParser
    )
    for area in AREAS:
        area.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = CliContext(db_url=args.db)
    saved_user = os.environ.get(config.USER_ENV)
    saved_judge = os.environ.get(config.JUDGE_ENV)
    try:
        if args.judge is not None:  # the app and `ask` read it too
            os.environ[config.JUDGE_ENV] = args.judge
        if args.user is not None:  # the app, `serve` and the lab's subprocesses read it too
            os.environ[config.USER_ENV] = config.check_user_name(args.user)
        if args.command is None:
            from quiz.tui import run_app

            return run_app(db_url=args.db)
        return int(args.func(args, ctx))
    except QuizError as err:
        print(f"latency-quiz: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("latency-quiz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        ctx.close()
        if saved_user is None:
            os.environ.pop(config.USER_ENV, None)
        else:
            os.environ[config.USER_ENV] = saved_user
        if saved_judge is None:
            os.environ.pop(config.JUDGE_ENV, None)
        else:
            os.environ[config.JUDGE_ENV] = saved_judge
