"""`latency-quiz team progress | report`: everyone on one database, for a class or a team."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from quiz.cli._common import CliContext, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    team = subparsers.add_parser(
        "team",
        help="the cohort view: every user on this database side by side",
        description="For a class, a study group or a hiring team sharing one database "
        "(usually PostgreSQL, via --db): per user, phase mastery, questions seen, mock "
        "interviews with verdict bands and practicals passed with their environment; then "
        "the weakest topics of the group.",
    )
    actions = team.add_subparsers(dest="team_command", metavar="ACTION", required=True)
    progress = actions.add_parser(
        "progress",
        help="print every user's progress and the group's weakest topics",
        description="Print every user's progress and the group's weakest topics.",
    )
    progress.add_argument("--json", action="store_true", help="print JSON")
    progress.set_defaults(func=cmd_team_progress)
    report = actions.add_parser(
        "report",
        help="write the cohort as one HTML page",
        description="Write the cohort as one self-contained HTML page that explains itself "
        "to someone who has never seen the tool.",
    )
    report.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.html")
    report.set_defaults(func=cmd_team_report)


def cmd_team_progress(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.study.team import cohort

    data = cohort(ctx.store(), ctx.bank())
    if args.json:
        print_json(data)
        return 0
    for line in summary_lines(data):
        print(line)
    return 0


def summary_lines(data: dict[str, Any]) -> list[str]:
    from quiz.study.team import percent

    users = data["users"]
    if not users:
        return ["Nobody has used this database yet."]
    lines = [f"{counted(len(users), 'user')}:"]
    for user in users:
        phases = ", ".join(f"{p['id']} {percent(p['mastery'])}" for p in user["phases"])
        verdicts = ", ".join(m["verdict"] for m in user["mocks"]) or "none"
        practicals = ", ".join(p["practical"] for p in user["practicals_passed"]) or "none"
        lines += [
            f"  {user['user']}: {counted(user['answers'], 'answer')}, "
            f"{user['questions_seen']} of {user['questions_total']} questions seen",
            f"    mastery: {phases}",
            f"    mock interviews finished: {len(user['mocks'])} ({verdicts})",
            f"    practicals passed: {practicals}",
        ]
    weakest = ", ".join(
        f"{t['topic']} {percent(t['mastery'])} ({t['users']} answered)"
        for t in data["weakest_topics"]
    )
    lines.append(f"Weakest topics of the group: {weakest or 'none answered yet'}")
    return lines


def counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def cmd_team_report(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.study.team import write_cohort_report

    path = Path(args.output)
    data = write_cohort_report(ctx.store(), ctx.bank(), path)
    print(f"Wrote {path} ({len(data['users'])} users)")
    return 0
