"""Seeded instances of questions: parameters drawn, prompt rendered, key computed.

The same ``(question id, seed)`` always gives the same instance, on any machine and in any
process: the random generator is seeded from a string made of both.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from quiz import units
from quiz.bank.formula import FormulaError, evaluate
from quiz.bank.schema import (
    ANSWER_PLACEHOLDER,
    ESTIMATE_FULL_CREDIT,
    OPTION_IDS,
    ChoiceQuestion,
    ChoicesParam,
    EstimateQuestion,
    KeyPoint,
    MultiQuestion,
    NumericQuestion,
    OrderQuestion,
    Param,
    PracticalQuestion,
    Question,
    RangeParam,
    ShortQuestion,
)
from quiz.bank.template import render
from quiz.bank.worked import worked_steps


@dataclass(frozen=True)
class Choice:
    id: str
    text: str


@dataclass(frozen=True)
class NumericKey:
    """The key of a numeric or estimate instance, in the unit it is shown in.

    ``absolute`` is in ``unit`` too; an estimate has neither tolerance (log-distance grading).
    """

    value: float
    unit: str
    relative: float | None = None
    absolute: float | None = None


@dataclass(frozen=True)
class Rubric:
    """The key of a short-answer instance."""

    model: str
    points: tuple[KeyPoint, ...]
    pass_score: float


Key = str | tuple[str, ...] | NumericKey | Rubric | None


@dataclass(frozen=True)
class Instance:
    """One question as a candidate sees it for one seed, with everything needed to grade it."""

    question_id: str
    seed: int
    title: str
    phase: str
    level: str
    topic: str
    skills: tuple[str, ...]
    kind: str
    prompt: str
    choices: tuple[Choice, ...]
    params: dict[str, Any]
    unit: str | None
    key: Key
    explanation: str
    references: tuple[str, ...]
    time_budget_s: int
    practical: str | None
    model_answer: str | None

    def key_json(self) -> Any:
        """The key as JSON: "B"; ["A", "C"]; {value, unit, tolerance}; ["C", "A", "B"]; model text."""
        key = self.key
        if isinstance(key, NumericKey):
            if self.kind == "estimate":
                tolerance: dict[str, float] = {"factor": ESTIMATE_FULL_CREDIT}
            elif key.relative is not None:
                tolerance = {"relative": key.relative}
            else:
                tolerance = {"absolute": key.absolute or 0.0}
            return {"value": key.value, "unit": key.unit, "tolerance": tolerance}
        if isinstance(key, Rubric):
            return key.model
        if isinstance(key, tuple):
            return list(key)
        return key


def instantiate(question: Question, seed: int = 0) -> Instance:
    """The instance of ``question`` for ``seed`` (FormulaError if its formula cannot be evaluated)."""
    rng = random.Random(f"{question.id}#{seed}")
    params = draw_params(question, rng)
    choices: tuple[Choice, ...] = ()
    unit: str | None = None
    key: Key = None
    if isinstance(question, ChoiceQuestion | MultiQuestion):
        choices, key = _relabelled_options(question, random.Random(f"{question.id}#{seed}#options"))
    elif isinstance(question, NumericQuestion | EstimateQuestion):
        key = numeric_key(question, params)
        unit = key.unit
    elif isinstance(question, OrderQuestion):
        choices, key = _shuffled(question.items, rng)
    elif isinstance(question, ShortQuestion):
        answer = question.answer
        key = Rubric(answer.model.strip(), tuple(answer.points), float(answer.pass_score))
    return Instance(
        question_id=question.id,
        seed=seed,
        title=question.title,
        phase=question.phase,
        level=question.level,
        topic=question.topic,
        skills=tuple(question.skills),
        kind=question.kind,
        prompt=render(question.prompt, params).strip(),
        choices=choices,
        params=params,
        unit=unit,
        key=key,
        explanation=_explanation(question, params, key),
        references=tuple(question.references),
        time_budget_s=question.time_budget_s,
        practical=question.practical if isinstance(question, PracticalQuestion) else None,
        model_answer=key.model if isinstance(key, Rubric) else None,
    )


def _explanation(question: Question, params: dict[str, Any], key: Key) -> str:
    """The explanation for these numbers: ``{answer}`` is the key, and a parameterized
    question's formula is worked through for them."""
    if not (isinstance(question, NumericQuestion | EstimateQuestion) and question.params):
        return render(question.explanation, params).strip()
    assert isinstance(key, NumericKey) and question.answer.formula is not None
    shown = units.format_quantity(key.value, key.unit)
    text = render(question.explanation, params | {ANSWER_PLACEHOLDER: shown}).strip()
    numbers = {k: v for k, v in params.items() if k in question.params}
    inputs = ", ".join(
        f"{name} = {units.format_number(value)}"
        + (f" ({params[name + '_name']})" if f"{name}_name" in params else "")
        for name, value in numbers.items()
    )
    steps = worked_steps(question.answer.formula, numbers, question.answer.unit, key.unit)
    lines = [f"  {steps[0]}", *(f"= {step}" for step in steps[1:])]
    return (
        f"{text}\n\nWorked for your numbers ({inputs}):\n\n```text\n" + "\n".join(lines) + "\n```"
    )


def draw_params(question: Question, rng: random.Random) -> dict[str, Any]:
    """Values for each parameter (a named choice adds ``NAME_name``), in declaration order."""
    values: dict[str, Any] = {}
    for name, spec in getattr(question, "params", {}).items():
        if isinstance(spec, ChoicesParam):
            label = rng.choice(list(spec.choices))
            values[name] = spec.choices[label]
            values[f"{name}_name"] = label
        elif isinstance(spec, RangeParam):
            values[name] = _draw_range(spec, rng)
        else:
            values[name] = rng.choice(spec)
    return values


def _draw_range(spec: RangeParam, rng: random.Random) -> int | float:
    if spec.step is not None:
        steps = math.floor((spec.max - spec.min) / spec.step + 1e-9)
        value = spec.min + rng.randint(0, steps) * spec.step
        whole = all(isinstance(v, int) for v in (spec.min, spec.step))
        return int(value) if whole else _tidy(value, 12)
    if isinstance(spec.min, int) and isinstance(spec.max, int):
        return rng.randint(spec.min, spec.max)
    return _tidy(rng.uniform(spec.min, spec.max), 3)  # a float range without step: 3 digits


def _tidy(value: float, digits: int) -> float:
    return float(f"{value:.{digits}g}")


def numeric_key(question: NumericQuestion | EstimateQuestion, params: dict[str, Any]) -> NumericKey:
    answer = question.answer
    if answer.formula is not None:
        numbers = {k: v for k, v in params.items() if k in question.params}
        raw = evaluate(answer.formula, numbers)
    else:
        raw = float(answer.value or 0)
    shown = answer.shown_unit
    value = _tidy(units.convert(raw, answer.unit, shown), 12)
    if isinstance(question, EstimateQuestion):
        if value <= 0:
            raise FormulaError(f"an estimate's key must be positive, got {value:g}")
        return NumericKey(value, shown)
    tolerance = question.answer.tolerance
    absolute = tolerance.absolute
    if absolute is not None:
        absolute = _tidy(units.convert(absolute, answer.unit, shown), 12)
    return NumericKey(value, shown, tolerance.relative, absolute)


def _shuffled(items: list[str], rng: random.Random) -> tuple[tuple[Choice, ...], tuple[str, ...]]:
    """Items in a seeded order that is never the written one; the key lists ids in written order."""
    order = list(range(len(items)))
    rng.shuffle(order)
    if order == sorted(order):
        order = order[1:] + order[:1]
    choices = tuple(Choice(OPTION_IDS[shown], items[i]) for shown, i in enumerate(order))
    position = {written: shown for shown, written in enumerate(order)}
    return choices, tuple(OPTION_IDS[position[i]] for i in range(len(items)))


def _relabelled_options(
    question: ChoiceQuestion | MultiQuestion, rng: random.Random
) -> tuple[tuple[Choice, ...], Key]:
    """Options in a seeded order, so a key's letter can't be learned by heart; the YAML key names
    options by written position and is relabelled to the shown ids."""
    order = list(range(len(question.choices)))
    rng.shuffle(order)
    choices = tuple(Choice(OPTION_IDS[shown], question.choices[i]) for shown, i in enumerate(order))
    shown_id = {OPTION_IDS[written]: OPTION_IDS[shown] for shown, written in enumerate(order)}
    if isinstance(question.answer, str):
        return choices, shown_id[question.answer]
    return choices, tuple(sorted(shown_id[written] for written in question.answer))


def formula_problems(question: Question) -> list[str]:
    """Why the key cannot be computed: tried for seed 0 and for every parameter at its
    smallest and at its largest value."""
    if not isinstance(question, NumericQuestion | EstimateQuestion):
        return []
    trials = [draw_params(question, random.Random(f"{question.id}#0"))]
    if question.params:
        trials += [_extreme(question.params, min), _extreme(question.params, max)]
    problems: list[str] = []
    for params in trials:
        try:
            numeric_key(question, params)
        except FormulaError as err:
            if str(err) not in problems:
                problems.append(str(err))
    return problems


def _extreme(params: dict[str, Param], pick: Any) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, spec in params.items():
        if isinstance(spec, ChoicesParam):
            values[name] = pick(spec.choices.values())
        elif isinstance(spec, RangeParam):
            values[name] = pick(spec.min, spec.max)
        else:
            values[name] = pick(spec)
    return values
