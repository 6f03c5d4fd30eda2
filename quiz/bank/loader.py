"""Reading question files into a Bank, reporting every problem as ``PATH:LINE: message``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from quiz import config
from quiz.bank import yaml_lines
from quiz.bank.bank import Bank
from quiz.bank.problems import BankError, Problem
from quiz.bank.schema import KINDS, MODELS, PARAM_TAGS, Question
from quiz.bank.variants import formula_problems
from quiz.bank.yaml_lines import Document, Loc

ROADMAP = "roadmap.yaml"  # the study roadmap lives beside the questions but is not one


@dataclass
class _Reading:
    questions: list[Question] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    id_places: dict[str, list[tuple[Path, int]]] = field(default_factory=dict)


def load_bank(paths: Sequence[Path] | None = None) -> Bank:
    """The bank from ``paths`` (files or folders; default: the shipped bank).

    Raises BankError listing every problem.
    """
    reading = _read(paths if paths is not None else [config.bank_dir()])
    if reading.problems:
        raise BankError(reading.problems)
    return Bank(reading.questions)


def validate_paths(paths: Sequence[Path]) -> list[Problem]:
    """Every problem in the question files ``paths`` (files or folders), in file and line order."""
    return _read(paths).problems


def question_files(paths: Iterable[Path]) -> list[Path]:
    """The question files among ``paths``: folders give their *.yaml; roadmap.yaml is skipped."""
    files: list[Path] = []
    for path in map(Path, paths):
        found = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        files.extend(f for f in found if f.name != ROADMAP and f not in files)
    return files


def _read(paths: Iterable[Path]) -> _Reading:
    reading = _Reading()
    given = [Path(path) for path in paths]
    missing = [path for path in given if not path.exists()]
    reading.problems += [Problem(path, 1, "no such file or folder") for path in missing]
    files = question_files(path for path in given if path.exists())
    for path in files:
        _read_file(path, reading)
    for qid, places in reading.id_places.items():
        for place in places if len(places) > 1 else []:
            others = ", ".join(f"{p}:{line}" for p, line in places if (p, line) != place)
            reading.problems.append(Problem(*place, f"duplicate id '{qid}' (also at {others})"))
    order = {path: index for index, path in enumerate([*missing, *files])}
    reading.problems.sort(key=lambda p: (order[p.path], p.line))
    return reading


def _read_file(path: Path, reading: _Reading) -> None:
    def problem(line: int, message: str) -> None:
        reading.problems.append(Problem(path, line, message))

    try:
        document = yaml_lines.read(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        context = f" ({err.context})" if err.context else ""
        problem(mark.line + 1 if mark else 1, f"invalid YAML: {err.problem}{context}")
        return
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        problem(1, f"cannot read: {err}")
        return
    for loc, line, first in document.duplicate_keys:
        problem(line, f"duplicate field '{_dotted(loc[1:])}' (first at line {first})")
    if not isinstance(document.data, list) or not document.data:
        problem(1, "a question file holds a YAML list of questions, each starting with '- id:'")
        return
    for index, item in enumerate(document.data):
        _read_question(path, index, item, document, reading)


def _read_question(
    path: Path, index: int, item: Any, document: Document, reading: _Reading
) -> None:
    start = document.line((index,), 1)

    def problem(loc: Loc, message: str) -> None:
        reading.problems.append(Problem(path, document.line((index, *loc), start), message))

    if not isinstance(item, dict):
        problem((), "a question is a mapping of fields (id, title, kind, ...)")
        return
    if isinstance(item.get("id"), str):
        reading.id_places.setdefault(item["id"], []).append(
            (path, document.line((index, "id"), start))
        )
    kind = item.get("kind")
    if kind is None:
        problem((), "missing field 'kind'")
        return
    if kind not in KINDS:
        problem(("kind",), f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
        return
    try:
        question = MODELS[kind].model_validate(item)
    except ValidationError as err:
        for error in err.errors():
            problem(*_describe(error))
        return
    unusable = formula_problems(question)
    for message in unusable:
        problem(("answer", "formula"), message)
    if not unusable:
        question._source = (path, start)
        reading.questions.append(question)


def _describe(error: ErrorDetails) -> tuple[Loc, str]:
    """Where a validation error points (a path of keys) and what to tell the author."""
    loc: Loc = tuple(part for part in error["loc"] if part not in PARAM_TAGS)
    context = error.get("ctx") or {}
    kind = error["type"]
    if kind == "missing":
        return loc[:-1], f"missing field '{_dotted(loc)}'"
    if kind == "extra_forbidden":
        return loc, f"unknown field '{_dotted(loc)}'"
    if kind == "bank":
        at = tuple(str(context["at"]).split("."))
        return (*loc, *at), context["message"]
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    given = error.get("input")
    if (
        kind != "value_error"
        and isinstance(given, str | int | float | bool)
        and len(repr(given)) < 60
    ):
        message += f" (got {given!r})"
    return loc, f"{_dotted(loc)}: {message}" if loc else message


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")
