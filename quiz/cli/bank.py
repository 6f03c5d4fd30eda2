"""`latency-quiz bank validate | list | show`."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from quiz.cli._common import CliContext, print_json
from quiz.errors import UsageError

PHASES = ["foundations", "core", "advanced"]
LEVELS = ["L1", "L2", "L3", "L4"]
KINDS = ["choice", "multi", "numeric", "estimate", "order", "short", "practical"]


def register(subparsers: argparse._SubParsersAction) -> None:
    bank = subparsers.add_parser("bank", help="validate, list and show questions of the bank")
    bank_sub = bank.add_subparsers(dest="bank_command", metavar="SUBCOMMAND", required=True)

    validate = bank_sub.add_parser(
        "validate",
        help="check question files; prints PATH:LINE: message per problem",
        description="Check question YAML files (default: the shipped bank). Exit 0 when valid, "
        "else 1 with one 'PATH:LINE: message' line per problem.",
    )
    validate.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to check")
    validate.set_defaults(func=cmd_validate)

    listing = bank_sub.add_parser("list", help="list questions, optionally filtered")
    add_filters(listing)
    listing.add_argument("--kind", choices=KINDS, help="only questions of this kind")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(func=cmd_list)

    show = bank_sub.add_parser(
        "show", help="show one question (a seed picks a parameterized variant)"
    )
    show.add_argument("id", metavar="ID", help="question id")
    show.add_argument("--seed", type=int, default=0, help="variant seed (default 0)")
    show.add_argument("--key", action="store_true", help="include the answer key")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_show)


def add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phase", choices=PHASES, help="only this study phase")
    parser.add_argument("--level", choices=LEVELS, help="only this level")
    parser.add_argument("--topic", help="only this topic")


def expand_paths(raw: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in raw:
        path = Path(item)
        if path.is_dir():
            paths.extend(sorted(p for p in path.rglob("*.yaml") if p.name != "roadmap.yaml"))
        elif path.exists():
            paths.append(path)
        else:
            raise UsageError(f"no such file or folder: {item}")
    return paths


def cmd_validate(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.bank import validate_paths
    from quiz.config import bank_dir

    paths = expand_paths(args.paths) if args.paths else expand_paths([str(bank_dir())])
    problems = validate_paths(paths)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {len(paths)} file(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(paths)} file(s) valid", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    questions = ctx.bank().filter(
        phase=args.phase, level=args.level, topic=args.topic, kind=args.kind
    )
    rows: list[dict[str, Any]] = [
        {
            "id": q.id,
            "phase": q.phase,
            "level": q.level,
            "topic": q.topic,
            "kind": q.kind,
            "title": q.title,
            "parameterized": q.parameterized,
        }
        for q in questions
    ]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no questions match these filters", file=sys.stderr)
        return 0
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        marker = "*" if r["parameterized"] else " "
        print(
            f"{r['id']:<{width}}  {r['phase']:<11} {r['level']}  {r['kind']:<9}{marker} "
            f"{r['topic']:<20} {r['title']}"
        )
    print(f"{len(rows)} question(s); * = parameterized", file=sys.stderr)
    return 0


def instance_json(instance: Any, *, with_key: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": instance.question_id,
        "seed": instance.seed,
        "title": instance.title,
        "phase": instance.phase,
        "level": instance.level,
        "topic": instance.topic,
        "kind": instance.kind,
        "prompt": instance.prompt,
        "time_budget_s": instance.time_budget_s,
    }
    if instance.choices:
        data["choices"] = [{"id": c.id, "text": c.text} for c in instance.choices]
    if instance.params:
        data["params"] = instance.params
    if instance.unit is not None:
        data["unit"] = instance.unit
    if instance.practical:
        data["practical"] = instance.practical
    if with_key:
        data["key"] = instance.key_json()
    return data


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz.bank import instantiate

    instance = instantiate(ctx.bank().get(args.id), args.seed)
    if args.json:
        print_json(instance_json(instance, with_key=args.key))
        return 0
    print(render_instance_text(instance))
    if args.key:
        print(f"\nKey: {instance.key_json()}")
    return 0


_EMPHASIS = re.compile(r"\*\*(.+?)\*\*|__(.+?)__|`([^`]+)`")


def plain(markdown: str) -> str:
    """Markdown's inline marks removed, for a plain terminal (``**x**``, ``__x__``, `` `x` ``)."""
    return _EMPHASIS.sub(lambda m: next(g for g in m.groups() if g is not None), markdown)


def render_instance_text(instance: Any) -> str:
    lines = [
        f"[{instance.question_id}] {instance.title}",
        f"{instance.phase} · {instance.level} · {instance.topic} · {instance.kind} · "
        f"budget {instance.time_budget_s}s",
        "",
        plain(instance.prompt.rstrip()),
    ]
    if instance.choices:
        lines.append("")
        lines.extend(f"  {c.id}) {plain(c.text)}" for c in instance.choices)
    if instance.unit:
        lines.append(f"\n(answer in {instance.unit}, or any unit of the same kind)")
    elif instance.kind in ("numeric", "estimate"):
        from quiz.units import PLAIN_NUMBER_FORMS

        lines.append(f"\n(a plain number: {PLAIN_NUMBER_FORMS})")
    return "\n".join(lines)
