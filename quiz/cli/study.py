"""`latency-quiz review | plan | progress | report | export | import`."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from quiz.cli._common import CliContext, print_json
from quiz.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    review = subparsers.add_parser(
        "review",
        help="list the reviews that are due (spaced repetition)",
        description="List the questions whose FSRS review is due now, most overdue first, and "
        "how many are due today and this week. Practise them with `latency-quiz ask`.",
    )
    review.add_argument("--json", action="store_true", help="print JSON")
    review.set_defaults(func=cmd_review)

    plan = subparsers.add_parser(
        "plan",
        help="set or show the study plan (start and interview dates)",
        description="With --start/--interview, set the plan; alone, show it: the week and "
        "phase you are in and whether you are ahead, on track or behind. Until the interview, "
        "reviews are never scheduled after it.",
    )
    plan.add_argument("--start", metavar="DATE", help="first day of study (YYYY-MM-DD)")
    plan.add_argument("--interview", metavar="DATE", help="the interview date (YYYY-MM-DD)")
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(func=cmd_plan)

    progress = subparsers.add_parser(
        "progress",
        help="mastery per phase and topic, due reviews, plan and mock interviews",
        description="Show progress through the three study phases: mastery (from recall "
        "probability, recent accuracy and passed practicals), questions seen, milestones, "
        "weakest topics, due reviews, streak, plan and mock interview history.",
    )
    progress.add_argument("--json", action="store_true", help="print JSON")
    progress.set_defaults(func=cmd_progress)

    report = subparsers.add_parser(
        "report",
        help="write a progress report (HTML with charts, or Markdown)",
        description="Write a progress report: a single self-contained HTML file with charts, "
        "or Markdown, chosen by the file's suffix.",
    )
    report.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="FILE.html or FILE.md"
    )
    report.set_defaults(func=cmd_report)

    export = subparsers.add_parser(
        "export",
        help="export attempts, reviews, sessions and practical runs to JSON",
        description="Write your whole history (attempts, reviews, sessions, practical runs, "
        "settings) to one JSON file that `latency-quiz import` reads back.",
    )
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.json")
    export.set_defaults(func=cmd_export)

    imp = subparsers.add_parser(
        "import",
        help="import a JSON export (rows already present are skipped)",
        description="Merge an export into this database. Importing the same file twice adds "
        "nothing; a malformed file changes nothing.",
    )
    imp.add_argument("file", metavar="FILE", help="a file written by `latency-quiz export`")
    imp.set_defaults(func=cmd_import)


def cmd_review(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.study.reviews import due_cards, due_counts

    store = ctx.store()
    cards = due_cards(store)
    counts = due_counts(store)
    if args.json:
        print_json(
            {
                "due_now": counts.now,
                "due_today": counts.today,
                "due_week": counts.week,
                "cards": [
                    {
                        "id": c.question_id,
                        "title": c.title,
                        "phase": c.phase,
                        "level": c.level,
                        "topic": c.topic,
                        "kind": c.kind,
                        "due": c.due.isoformat(),
                        "recall": round(c.recall, 3),
                    }
                    for c in cards
                ],
            }
        )
        return 0
    print(f"{counts.now} due now, {counts.today} today, {counts.week} this week.")
    for card in cards:
        print(f"  {card.due:%Y-%m-%d %H:%M}  {card.question_id:<32} {card.title} ({card.topic})")
    if cards:
        print("Practise them with: latency-quiz ask")
    return 0


def cmd_plan(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.study.plan import get_plan, parse_date, set_plan

    store = ctx.store()
    if args.start or args.interview:
        current = get_plan(store)
        if args.interview:
            interview = parse_date(args.interview)
        elif current is not None:
            interview = current.interview
        else:
            raise UsageError("give --interview DATE too (no plan is set yet)")
        start = parse_date(args.start) if args.start else (current.start if current else _today())
        set_plan(store, start, interview)
    status = _progress(ctx)["plan"]
    if args.json:
        print_json(status)
        return 0
    from quiz.study.report import plan_sentence

    print(plan_sentence(status))
    return 0


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _progress(ctx: CliContext) -> dict[str, Any]:
    from quiz.study.progress import progress

    return progress(ctx.store(), ctx.bank())


def cmd_progress(args: argparse.Namespace, ctx: CliContext) -> int:
    data = _progress(ctx)
    if args.json:
        print_json(data)
        return 0
    from quiz.study.report import plan_sentence

    width = max((len(phase["name"]) for phase in data["phases"]), default=0)
    for phase in data["phases"]:
        done = " ✓ complete" if phase["complete"] else ""
        print(
            f"{phase['name']:<{width}} {_bar(phase['mastery'])} {phase['mastery']:>4.0%}  "
            f"{phase['questions_seen']}/{phase['questions_total']} seen, "
            f"{phase['practicals_passed']}/{phase['practicals_total']} practicals, milestone "
            f"{'passed' if phase['milestone_passed'] else 'not yet'}{done}"
        )
    seen = sorted((t for t in data["topics"] if t["questions_seen"]), key=lambda t: t["mastery"])
    if seen:
        print("\nWeakest topics: " + ", ".join(f"{t['id']} {t['mastery']:.0%}" for t in seen[:5]))
    due, streak = data["due_reviews"], data["streak_days"]
    print(
        f"\n{due} review{'' if due == 1 else 's'} due; "
        f"streak {streak} day{'' if streak == 1 else 's'}."
    )
    print(plan_sentence(data["plan"]))
    for mock in data["mocks"][:5]:
        verdict = mock["verdict"] or mock["status"]
        print(
            f"Mock {mock['started_at'][:10]} {mock['level']} {mock['minutes']} min: "
            f"{mock['score']:.0%} ({verdict})"
        )
    return 0


def _bar(value: float, width: int = 20) -> str:
    filled = round(max(0.0, min(1.0, value)) * width)
    return "█" * filled + "░" * (width - filled)


def cmd_report(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.study.report import write_report

    path = write_report(ctx.store(), ctx.bank(), Path(args.output))
    print(f"wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.study.transfer import export_file

    attempts, workspaces = export_file(ctx.store(), Path(args.output))
    print(
        f"wrote {args.output} ({attempts} attempt{'' if attempts == 1 else 's'}, "
        f"{workspaces} practical workspace{'' if workspaces == 1 else 's'})"
    )
    return 0


def cmd_import(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.study.transfer import import_file

    report = import_file(ctx.store(), Path(args.file))
    added = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in asdict(report).items())
    print(f"imported {args.file}; added: {added}")
    return 0
