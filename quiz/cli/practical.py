"""`latency-quiz practical list|start|grade`: hands-on practicals graded on this machine."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from quiz.cli._common import CliContext, print_json, require
from quiz.errors import NotFoundError, QuizError

if TYPE_CHECKING:
    from quiz.lab.runner import LabResult


def register(subparsers: argparse._SubParsersAction) -> None:
    practical = subparsers.add_parser(
        "practical",
        help="hands-on practicals measured on your hardware",
        description="Practicals are tasks you solve in a workspace folder; the lab grades them "
        "by running real measurements (profiling, timing, quantization) on this machine.",
    )
    commands = practical.add_subparsers(dest="practical_command", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "list",
        help="list the practicals and whether this machine can run them",
        description="List every practical: id, title, phase, level, device (any|cuda) and "
        "whether it is available here (with the reason when it is not).",
    )
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(func=cmd_list)

    start = commands.add_parser(
        "start",
        help="create a practical's workspace and print its path",
        description="Copy the practical's starter (as solution.py), README and helper files into "
        "a workspace folder and print its path. An existing solution.py is kept.",
    )
    start.add_argument("id", metavar="ID", help="practical id (see `practical list`)")
    start.add_argument(
        "--dir", type=Path, metavar="DIR", help="workspace folder (default: under the data dir)"
    )
    start.set_defaults(func=cmd_start)

    grade = commands.add_parser(
        "grade",
        help="grade a solution (exit 0 passed, 1 failed, 3 the lab could not run)",
        description="Grade a submission in a separate worker process and show each check "
        "(measured vs threshold). With no PATH, grades your workspace copy. Exit 0 passed, "
        "1 failed, 2 usage, 3 the lab itself could not run.",
    )
    grade.add_argument("id", metavar="ID", help="practical id")
    grade.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        type=Path,
        help="a workspace folder (with solution.py) or a .py file (default: your workspace)",
    )
    which = grade.add_mutually_exclusive_group()
    which.add_argument("--reference", action="store_true", help="grade the shipped model solution")
    which.add_argument("--starter", action="store_true", help="grade the untouched starter")
    grade.add_argument("--json", action="store_true", help="print the result as JSON")
    grade.set_defaults(func=cmd_grade)


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.lab.catalog import scan_practicals

    practicals, problems = scan_practicals()
    for problem in problems:
        print(f"latency-quiz: warning: skipped a broken practical: {problem}", file=sys.stderr)
    rows = [p.summary_row() for p in practicals]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No practicals found.")
        return 0
    width = max(len(str(r["id"])) for r in rows)
    for r in rows:
        state = "available" if r["available"] else f"unavailable: {r['reason']}"
        print(f"{r['id']:<{width}}  {r['phase']:<11} {r['level']}  {r['device']:<4}  {r['title']}")
        if not r["available"]:
            print(f"{'':<{width}}  ({state})")
        elif r["caveat"]:
            print(f"{'':<{width}}  (note: {r['caveat']})")
    return 0


def cmd_start(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.lab.workspace import WorkspaceExistsError, default_workspace, start_workspace

    try:
        folder = start_workspace(args.id, args.dir)
    except WorkspaceExistsError as err:
        print(f"latency-quiz: {err}", file=sys.stderr)
        folder = (args.dir or default_workspace(args.id)).expanduser().resolve()
    print(folder)
    grade = f"latency-quiz practical grade {args.id}" + (f" {folder}" if args.dir else "")
    print(
        f"next: read README.md there (the task, how it is graded, hints), write "
        f"solution.py, then run `{grade}`",
        file=sys.stderr,
    )
    return 0


def cmd_grade(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.lab.catalog import get_practical
    from quiz.lab.runner import grade_practical
    from quiz.lab.workspace import default_workspace

    practical = get_practical(args.id)
    require(
        args.path is None or not (args.reference or args.starter),
        "give either PATH or --reference/--starter, not both",
    )
    if args.reference:
        target, source = practical.file("reference.py"), "reference"
    elif args.starter:
        target, source = practical.file("starter.py"), "starter"
    elif args.path is not None:
        target, source = args.path.expanduser(), "path"
    else:
        target, source = default_workspace(args.id), "workspace"
        if not (target / "solution.py").is_file():
            raise NotFoundError(
                f"no workspace for {args.id} at {target}; "
                f"run `latency-quiz practical start {args.id}` first"
            )
    started = time.monotonic()

    def show_progress(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    result = grade_practical(args.id, target, source=source, on_log=show_progress)
    record_run(ctx, args.id, result.to_dict(), source)
    if args.json:
        print_json(result.to_dict())
    else:
        print_result(result)
    return 0 if result.passed else 1


def record_run(ctx: CliContext, practical_id: str, result: dict[str, object], source: str) -> None:
    """Store the run (and, for the user's own code, an attempt + review of its question).
    A database problem is reported but does not change the grade's exit code."""
    from quiz.study.practice import submit_practical_run

    try:
        submit_practical_run(ctx.store(), practical_id, result, source)
    except QuizError as err:
        print(f"latency-quiz: warning: the run was not saved: {err}", file=sys.stderr)


def print_result(result: LabResult) -> None:
    from quiz.lab.api import measured_text, revealed_answer, threshold_text

    verdict = result.verdict.upper()
    device = result.device.get("device_name") or result.device.get("device") or "unknown device"
    print(f"{result.id}: {verdict} (score {result.score:.0%}, {result.duration_s:.1f} s, {device})")
    if result.error:
        print(f"reason: {result.error}")
        if result.log_tail and "Traceback (your code" not in result.error:
            print("last output:")
            for line in result.log_tail[-15:]:
                print(f"  {line}")
        return
    rows = [
        (
            "pass" if c.passed else ("????" if c.inconclusive else "FAIL"),
            c.name,
            measured_text(c.measured, c.unit),
            threshold_text(c.threshold, c.unit),
            c.message,
        )
        for c in result.checks
    ]
    header = ("", "check", "measured", "threshold", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        print("  ".join(cells + [row[4]]).rstrip())
    if result.inconclusive:
        print("The machine was too noisy to decide; close other work and grade again.")
    answer = revealed_answer(result.passed, result.details)
    if answer:
        print(f"\n{answer}")
