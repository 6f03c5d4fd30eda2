"""Worked solutions: every parameterized question's explanation works its formula through for
the instance's own numbers, and quotes no number that contradicts them."""

from __future__ import annotations

import re

import pytest

from quiz.bank import NumericKey, instantiate, load_bank
from quiz.bank.schema import ChoicesParam, Question, RangeParam
from quiz.bank.worked import worked_steps
from quiz.units import format_quantity

BANK = load_bank()
PARAMETERIZED = [q for q in BANK if q.parameterized]
SEEDS = range(8)
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


def numbers_in(text: str) -> set[float]:
    return {float(n.replace(",", "")) for n in _NUMBER.findall(text)}


def possible_values(question: Question) -> dict[str, set[float]]:
    values: dict[str, set[float]] = {}
    for name, spec in question.params.items():  # type: ignore[attr-defined]
        if isinstance(spec, ChoicesParam):
            values[name] = {float(v) for v in spec.choices.values()}
        elif isinstance(spec, RangeParam):
            if spec.step is not None:
                count = int((spec.max - spec.min) / spec.step + 1e-9)
                values[name] = {float(spec.min + i * spec.step) for i in range(count + 1)}
        else:
            values[name] = {float(v) for v in spec}
    return values


def test_steps_show_the_formula_the_numbers_and_each_level() -> None:
    steps = worked_steps("price / (tps * 3600) * 1e6", {"price": 3.99, "tps": 1500}, "USD", "USD")
    assert steps == [
        "price / (tps × 3,600) × 1,000,000",
        "3.99 / (1,500 × 3,600) × 1,000,000",
        "3.99 / 5,400,000 × 1,000,000",
        "7.38889e-07 × 1,000,000",
        "0.7389 USD",
    ]
    # each step keeps enough digits that the next one follows from it (at 4 digits, 206.125
    # showed as 206.1 and half of it as 103.1)
    assert worked_steps("ridge * 0.5 / 2", {"ridge": 206.125}, "", "") == [
        "ridge × 0.5 / 2",
        "206.125 × 0.5 / 2",
        "103.062 / 2",
        "51.53",
    ]
    converted = worked_steps("a * b", {"a": 1024, "b": 1024}, "B", "KiB")
    assert converted[-1] == "1,048,576 B = 1,024 KiB"


@pytest.mark.parametrize("question", PARAMETERIZED, ids=lambda q: q.id)
def test_the_explanation_works_the_formula_for_the_instance(question: Question) -> None:
    for seed in SEEDS:
        instance = instantiate(question, seed)
        assert isinstance(instance.key, NumericKey)
        worked = instance.explanation.split("Worked for your numbers", 1)
        assert len(worked) == 2, "no worked solution"
        assert format_quantity(instance.key.value, instance.key.unit) in worked[1]


@pytest.mark.parametrize("question", PARAMETERIZED, ids=lambda q: q.id)
def test_no_number_in_the_explanation_contradicts_the_instance(question: Question) -> None:
    possible = possible_values(question)
    formula = question.answer.formula or ""  # type: ignore[attr-defined]
    constants = numbers_in(formula)
    for seed in SEEDS:
        instance = instantiate(question, seed)
        text = instance.explanation.split("Worked for your numbers", 1)[0]
        own = {float(v) for k, v in instance.params.items() if isinstance(v, int | float)}
        assert isinstance(instance.key, NumericKey)
        key = numbers_in(format_quantity(instance.key.value, instance.key.unit))
        fine = own | constants | key | numbers_in(instance.prompt)
        for name, values in possible.items():
            wrong = (numbers_in(text) & values) - fine
            assert not wrong, (
                f"seed {seed}: the explanation quotes {sorted(wrong)}, a value of '{name}' "
                f"that this instance does not have ({name} = {instance.params[name]})"
            )
