"""Practical questions are graded by their practical; grading stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import quiz.grading
from quiz.bank import instantiate, load_bank
from quiz.errors import AnswerFormatError
from quiz.grading import grade

BANK = load_bank([Path(__file__).parent / "fixtures" / "bank" / "good"])


def test_practical_answers_point_to_the_practical_command() -> None:
    instance = instantiate(BANK.get("profile-hotspot-question"))
    with pytest.raises(AnswerFormatError) as err:
        grade(instance, "aten::mm")
    assert (
        str(err.value)
        == "graded by its practical: run `latency-quiz practical grade profile-hotspot`"
    )


def test_grading_the_same_answer_twice_gives_the_same_verdict() -> None:
    answers = {"choice": "B", "multi": "A,C", "estimate": "100", "order": "A,B,C,D"}
    answers["short"] = "time per request and batching"
    for question in BANK:
        if question.kind in answers or question.kind == "numeric":
            instance = instantiate(question, 5)
            answer = answers.get(question.kind, "1.5")  # a bare number: read in the key's unit
            assert grade(instance, answer) == grade(instance, answer)


def test_grading_imports_nothing_that_does_io_or_reads_the_clock() -> None:
    allowed = {
        "__future__",
        "collections.abc",
        "dataclasses",
        "itertools",
        "math",
        "re",
        "quiz.bank",
        "quiz.errors",
        "quiz.units",
        "quiz.grading",
        "quiz.grading.verdict",
        "quiz.grading.option_ids",
        "quiz.grading.quantities",
        "quiz.grading.clauses",
        "quiz.grading.short",
        "quiz.bank.schema",
        "typing",
    }
    folder = Path(quiz.grading.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert set(names) <= allowed, f"{path.name} imports {names}"
