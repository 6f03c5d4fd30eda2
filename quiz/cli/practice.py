"""`latency-quiz answer` (grade one answer) and `latency-quiz ask` (plain-terminal practice)."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any, Literal, TextIO

from quiz.cli._common import CliContext, print_json
from quiz.cli.bank import add_filters, plain, render_instance_text
from quiz.errors import AnswerFormatError

if TYPE_CHECKING:
    from quiz.bank import Instance
    from quiz.grading import Verdict

SKIPPED: Literal["skipped"] = "skipped"
POINT_MARKS = {"covered": "x", "missing": " ", "contradicted": "!"}
SELF_RATINGS = {"a": "again", "h": "hard", "g": "good", "e": "easy"}


def register(subparsers: argparse._SubParsersAction) -> None:
    answer = subparsers.add_parser(
        "answer",
        help="grade one answer to a question",
        description="Grade ANSWER for question ID: an option id ('B'), ids separated by commas "
        "('A,C'), a number with an optional unit ('2 GiB'), or text. The attempt is recorded "
        "unless --no-record.",
    )
    answer.add_argument("id", metavar="ID", help="question id")
    answer.add_argument("answer", metavar="ANSWER", help="your answer")
    answer.add_argument("--seed", type=int, default=0, help="variant seed (as in `bank show`)")
    answer.add_argument("--json", action="store_true", help="print the verdict as JSON")
    answer.add_argument(
        "--points",
        metavar="N,N",
        help="short answers: your self-check, the numbers of the key points your answer makes "
        "(as listed in the verdict); that score is recorded instead of the grader's",
    )
    answer.add_argument(
        "--no-record", action="store_true", help="grade without storing the attempt"
    )
    answer.set_defaults(func=cmd_answer)

    ask = subparsers.add_parser(
        "ask",
        help="practice in the plain terminal (reads answers from stdin)",
        description="Ask N questions one by one, reading each answer as one line from stdin "
        "(an empty line skips). Shows feedback and the explanation after each answer, records "
        "every attempt, and ends with a summary. Due reviews come first.",
    )
    ask.add_argument("-n", type=int, default=5, metavar="N", help="number of questions (default 5)")
    add_filters(ask)
    ask.set_defaults(func=cmd_ask)


def cmd_answer(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.bank import instantiate
    from quiz.judge import grade_answer

    instance = instantiate(ctx.bank().get(args.id), args.seed)
    verdict, notice = grade_answer(instance, args.answer)
    if notice:
        print(f"latency-quiz: {notice}", file=sys.stderr)
    if args.points is not None:
        verdict = self_checked_points(instance, args.points)
    if not args.no_record:
        from quiz.study.self_check import submit_verdict

        submit_verdict(ctx.store(), instance, args.answer, verdict, duration_s=None, mode="cli")
    if args.json:
        print_json(
            {
                "id": instance.question_id,
                "seed": instance.seed,
                "score": verdict.score,
                "correct": verdict.correct,
                "feedback": verdict.feedback,
                "expected": verdict.expected,
                "points": [{"text": p.text, "status": p.status} for p in verdict.points],
                "needs_self_check": verdict.needs_self_check,
            }
        )
    else:
        print_verdict(verdict)
        if verdict.needs_self_check:
            print(
                "To record your own check, run this again with --points and the numbers of "
                "the key points your answer makes (e.g. --points 1,3)."
            )
    return 0


def self_checked_points(instance: Instance, points: str) -> Verdict:
    """The verdict for ``--points 1,3``: UsageError unless the question is a short answer and
    every number names one of its key points."""
    from quiz.errors import UsageError
    from quiz.grading.short import rubric_of, self_checked

    if instance.kind != "short":
        raise UsageError("--points is the self-check of a short answer")
    count = len(rubric_of(instance).points)
    tokens = [t for t in points.replace(",", " ").split() if t]
    if not all(t.isdigit() and 1 <= int(t) <= count for t in tokens):
        raise UsageError(f"--points takes key point numbers from 1 to {count}, like '1,3'")
    return self_checked(instance, {int(t) - 1 for t in tokens})


def print_verdict(verdict: Verdict) -> None:
    if verdict.needs_self_check:
        mark = "not sure"
    else:
        mark = "correct" if verdict.correct else ("partly right" if verdict.score > 0 else "wrong")
    from quiz.bank.prose import filled

    width = shutil.get_terminal_size((100, 24)).columns
    print(f"{mark} — score {verdict.score:.0%}")
    print(filled(f"Expected: {verdict.expected}", width))
    for number, point in enumerate(verdict.points, start=1):
        print(f"  {number}. [{POINT_MARKS[point.status]}] {point.text}")
    if verdict.feedback:
        print(filled(verdict.feedback, width))


def cmd_ask(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.bank import instantiate
    from quiz.study.practice import pick_questions

    store = ctx.store()
    picks = pick_questions(
        store,
        ctx.bank(),
        n=max(args.n, 1),
        phase=args.phase,
        level=args.level,
        topic=args.topic,
        due_first=True,
        exclude_kinds=("practical",),
    )
    if not picks:
        print("no questions match these filters", file=sys.stderr)
        return 0
    interactive = sys.stdin.isatty()
    scores: list[float] = []
    skipped = 0
    for number, (question, seed) in enumerate(picks, start=1):
        instance = instantiate(question, seed)
        print(f"\n── Question {number}/{len(picks)} " + "─" * 40)
        print(render_instance_text(instance))
        outcome = ask_one(ctx, instance, sys.stdin, interactive=interactive)
        if outcome is None:
            break
        if outcome == SKIPPED:
            skipped += 1
        else:
            scores.append(outcome)
    print_summary(scores, skipped, len(picks))
    return 0


def ask_one(
    ctx: CliContext, instance: Any, stdin: TextIO, *, interactive: bool
) -> float | Literal["skipped"] | None:
    """Ask until the answer can be read; returns the score, SKIPPED, or None at end of input."""
    from quiz.judge import grade_answer
    from quiz.study.self_check import submit_verdict

    started = time.monotonic()
    while True:
        print("> ", end="", flush=True)
        line = stdin.readline()
        if not line:
            print()
            return None
        text = line.strip()
        if not interactive:
            print(text)  # a piped answer is echoed, so the transcript reads like a session
        if not text:
            print("skipped")
            return SKIPPED
        try:
            verdict, notice = grade_answer(instance, text)
        except AnswerFormatError as err:
            print(f"can't read that answer: {err}")
            continue
        if notice:
            print(notice)
        print_verdict(verdict)
        print(f"\nWhy: {plain(instance.explanation.strip())}")
        if verdict.needs_self_check and interactive:
            verdict = self_check(instance, verdict, stdin)
        self_rating = ask_self_rating(stdin) if instance.kind == "short" and interactive else None
        submit_verdict(
            ctx.store(),
            instance,
            text,
            verdict,
            duration_s=time.monotonic() - started,
            mode="practice",
            self_rating=self_rating,
        )
        return float(verdict.score)


def self_check(instance: Instance, verdict: Verdict, stdin: TextIO) -> Verdict:
    """Ask which key points the answer makes (the detected ones are pre-ticked); the user's
    ticks are the score."""
    from quiz.grading.short import self_checked

    ticked = {i for i, point in enumerate(verdict.points) if point.status == "covered"}
    print("\nSelf-check: compare your answer with the model answer above.")
    shown = ", ".join(str(i + 1) for i in sorted(ticked)) or "none"
    print(
        f"Which points does your answer make? Numbers separated by spaces (detected: {shown}; "
        "Enter keeps them, 0 for none): ",
        end="",
        flush=True,
    )
    reply = stdin.readline().strip()
    if reply == "0":
        ticked = set()
    elif reply:
        numbers = [int(t) for t in reply.replace(",", " ").split() if t.isdigit()]
        ticked = {n - 1 for n in numbers if 1 <= n <= len(verdict.points)}
    checked = self_checked(instance, ticked)
    print(f"{checked.feedback} Score {checked.score:.0%}.")
    return checked


def ask_self_rating(stdin: TextIO) -> str | None:
    print(
        "Self-rate your recall [a]gain/[h]ard/[g]ood/[e]asy (Enter: use the auto-grade): ", end=""
    )
    choice = stdin.readline().strip().lower()[:1]
    return SELF_RATINGS.get(choice)


def print_summary(scores: list[float], skipped: int, asked: int) -> None:
    skip_note = f", {skipped} skipped" if skipped else ""
    if not scores:
        print(f"\nSummary: no answers given{skip_note}.")
        return
    correct = sum(1 for s in scores if s >= 0.999)
    mean = sum(scores) / len(scores)
    print(
        f"\nSummary: {len(scores)}/{asked} answered{skip_note}, {correct} fully correct, "
        f"mean score {mean:.0%}."
    )
