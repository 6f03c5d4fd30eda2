"""The README's examples name questions and practicals that exist, and its commands parse."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from quiz.bank import load_bank
from quiz.cli import build_parser
from quiz.lab.catalog import list_practicals

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
EXAMPLES = [
    line.split("#")[0].strip()
    for line in README.splitlines()
    if line.startswith("latency-quiz ") and not line.startswith("latency-quiz --version")
]


def test_the_readme_has_the_two_commands() -> None:
    assert "pip install . && latency-quiz" in README
    assert 'pip install -e ".[test]" && python -m pytest' in README
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_parses(example: str) -> None:
    build_parser().parse_args(shlex.split(example)[1:])


def test_example_ids_exist() -> None:
    questions = set(load_bank().questions)
    practicals = {p.id for p in list_practicals()}
    for example in EXAMPLES:
        words = shlex.split(example)[1:]
        if words[0] == "answer":
            assert words[1] in questions, example
        if words[:2] == ["bank", "show"]:
            assert words[2] in questions, example
        if words[0] == "practical" and words[1] in ("start", "grade"):
            assert words[2] in practicals, example
