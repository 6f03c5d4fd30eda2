"""Over the whole bank: every numeric and estimate question accepts its key written in two
equivalent units and refuses a quantity of the wrong dimension with a hint."""

from __future__ import annotations

import pytest

from quiz.bank import NumericKey, instantiate, load_bank
from quiz.errors import AnswerFormatError
from quiz.grading import grade
from quiz.units import convert, dimension_of

BANK = load_bank()
QUANTITY_QUESTIONS = [q for q in BANK if q.kind in ("numeric", "estimate")]
# Two ways to write a quantity of each dimension (the second is never the bank's own spelling
# for most questions).
EQUIVALENT_UNITS = {
    "size": ("B", "GiB"),
    "bandwidth": ("B/s", "GB/s"),
    "time": ("s", "ms"),
    "compute": ("FLOP", "GFLOP"),
    "compute rate": ("FLOP/s", "TFLOPS"),
    "arithmetic intensity": ("FLOP/B", "FLOP/byte"),
    "tokens": ("tokens", "ktok"),
    "token rate": ("tokens/s", "tokens/min"),
    "request rate": ("requests/s", "requests/min"),
    "money": ("USD", "dollar"),
    "money rate": ("USD/h", "USD/min"),
    "GPUs": ("GPUs", "GPU"),
    "ratio": ("x", "times"),
    "number": ("%", "percent"),
}
WRONG = {"GPUs": "3 s"}  # what to type of the wrong dimension; "3 GPUs" otherwise


def test_every_quantity_dimension_in_the_bank_has_two_spellings() -> None:
    units = {instantiate(q).unit for q in QUANTITY_QUESTIONS}
    assert {dimension_of(u or "").name for u in units} <= set(EQUIVALENT_UNITS)


@pytest.mark.parametrize("question", QUANTITY_QUESTIONS, ids=lambda q: q.id)
@pytest.mark.parametrize("seed", [0, 7])
def test_the_key_is_accepted_in_two_equivalent_units(question, seed: int) -> None:
    instance = instantiate(question, seed)
    key = instance.key
    assert isinstance(key, NumericKey)
    for unit in EQUIVALENT_UNITS[dimension_of(key.unit).name]:
        answer = f"{convert(key.value, key.unit, unit)!r} {unit}"
        verdict = grade(instance, answer)
        assert verdict.correct and verdict.score == 1.0, (answer, verdict.feedback)


@pytest.mark.parametrize("question", QUANTITY_QUESTIONS, ids=lambda q: q.id)
def test_the_wrong_dimension_is_refused_with_a_hint(question) -> None:
    instance = instantiate(question)
    assert isinstance(instance.key, NumericKey)
    dimension = dimension_of(instance.key.unit)
    with pytest.raises(AnswerFormatError, match=f"; the question asks for {dimension.noun}"):
        grade(instance, WRONG.get(dimension.name, "3 GPUs"))
