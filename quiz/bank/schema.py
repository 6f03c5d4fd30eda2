"""Pydantic models of a question, one per kind (docs/question-format.md is the contract).

Models are strict (YAML types are taken as written) and forbid unknown fields. A check that
concerns a field other than the one being validated raises ``problem_at(field, message)`` so the
loader can point at that field's line.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from quiz import units
from quiz.bank.formula import FUNCTIONS, check_formula
from quiz.bank.template import placeholders
from quiz.errors import AnswerFormatError

PHASES = ("foundations", "core", "advanced")
LEVELS = ("L1", "L2", "L3", "L4")
KINDS = ("choice", "multi", "numeric", "estimate", "order", "short", "practical")
TOPICS = (
    "latency-throughput",
    "profiling",
    "batching",
    "kv-cache",
    "attention",
    "quantization",
    "roofline",
    "kernels",
    "parallelism",
    "speculative-decoding",
    "serving",
    "caching",
    "cost",
    "capacity-planning",
    "hardware",
    "lifecycle",
)
OPTION_IDS = string.ascii_uppercase
ESTIMATE_FULL_CREDIT = 2.0  # within this factor: full credit
ESTIMATE_NO_CREDIT = 10.0  # this factor or more off: none
ANSWER_PLACEHOLDER = "answer"  # {answer} in a parameterized explanation: the key, with its unit

_KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PARAM_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def problem_at(field: str, message: str) -> PydanticCustomError:
    """An error about ``field`` (a dotted path below the model being validated)."""
    return PydanticCustomError("bank", "{message}", {"message": message, "at": field})


def _kebab(value: str) -> str:
    if not _KEBAB.fullmatch(value):
        raise ValueError(f"must be kebab-case like 'kv-cache', got {value!r}")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _known_unit(value: str) -> str:
    try:
        units.lookup(value)
    except AnswerFormatError as err:
        raise ValueError(str(err)) from None
    return value


Kebab = Annotated[str, AfterValidator(_kebab)]
Text = Annotated[str, AfterValidator(_not_blank)]
UnitName = Annotated[str, AfterValidator(_known_unit)]
Number = int | float


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- parameters --------------------------------------------------------------------------------


class RangeParam(_Model):
    min: Number
    max: Number
    step: Annotated[Number, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeParam:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class ChoicesParam(_Model):
    choices: Annotated[dict[Text, Number], Field(min_length=1)]


def _param_shape(value: Any) -> str:
    """Which kind of parameter ``value`` is, for YAML input and for models being dumped."""
    if isinstance(value, ChoicesParam) or (isinstance(value, dict) and "choices" in value):
        return "<choices>"
    if isinstance(value, RangeParam | dict):
        return "<range>"
    return "<values>"


Param = Annotated[
    Annotated[list[Number], Field(min_length=1), Tag("<values>")]
    | Annotated[RangeParam, Tag("<range>")]
    | Annotated[ChoicesParam, Tag("<choices>")],
    Discriminator(_param_shape),
]
PARAM_TAGS = ("<values>", "<range>", "<choices>")


# --- answers -----------------------------------------------------------------------------------


class Tolerance(_Model):
    relative: Annotated[float, Field(gt=0, le=1)] | None = None
    absolute: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Tolerance:
        if (self.relative is None) == (self.absolute is None):
            raise ValueError("give exactly one of 'relative' or 'absolute'")
        return self


class _QuantityAnswer(_Model):
    value: Number | None = None
    formula: Text | None = None
    unit: UnitName
    display_unit: UnitName | None = None

    @field_validator("display_unit")
    @classmethod
    def _same_dimension(cls, display: str | None, info: ValidationInfo) -> str | None:
        unit = info.data.get("unit")
        if display is not None and unit is not None:
            try:
                units.convert(1.0, unit, display)
            except AnswerFormatError:
                raise ValueError(
                    f"'{display}' does not measure the same thing as unit '{unit}'"
                ) from None
        return display

    @model_validator(mode="after")
    def _value_or_formula(self) -> _QuantityAnswer:
        if (self.value is None) == (self.formula is None):
            raise ValueError("give exactly one of 'value' or 'formula'")
        return self

    @property
    def shown_unit(self) -> str:
        return self.display_unit if self.display_unit is not None else self.unit


class NumericAnswer(_QuantityAnswer):
    tolerance: Tolerance


class EstimateAnswer(_QuantityAnswer):
    @field_validator("value")
    @classmethod
    def _positive(cls, value: Number | None) -> Number | None:
        if value is not None and value <= 0:
            raise ValueError("an estimate's value must be positive (it is graded on log-distance)")
        return value


class PointMisconception(_Model):
    """A claim that contradicts a key point, and why it is wrong."""

    phrases: Annotated[list[Text], Field(min_length=1)]
    note: Text

    @field_validator("phrases")
    @classmethod
    def _has_words(cls, phrases: list[str]) -> list[str]:
        return _phrases_with_words(phrases)


class KeyPoint(_Model):
    """One thing a good answer says: several phrasings of it, and the claims that contradict it."""

    text: Text
    weight: Annotated[Number, Field(gt=0)] = 1
    phrases: Annotated[list[Text], Field(min_length=1)]
    misconceptions: list[PointMisconception] = []

    @field_validator("phrases")
    @classmethod
    def _has_words(cls, phrases: list[str]) -> list[str]:
        return _phrases_with_words(phrases)


def _phrases_with_words(phrases: list[str]) -> list[str]:
    for phrase in phrases:
        if not any(ch.isalnum() for ch in phrase):
            raise ValueError(f"phrase {phrase!r} has no words to match")
    return phrases


class ShortAnswer(_Model):
    model: Text
    points: Annotated[list[KeyPoint], Field(min_length=1)]
    pass_score: Annotated[Number, Field(gt=0, le=1)] = 0.6


# --- questions ---------------------------------------------------------------------------------


class Question(_Model):
    """Fields every question has. ``source`` is where it was read: (path, line)."""

    id: Kebab
    title: Annotated[Text, Field(max_length=80)]
    phase: Literal["foundations", "core", "advanced"]
    level: Literal["L1", "L2", "L3", "L4"]
    topic: Kebab
    skills: Annotated[list[Kebab], Field(min_length=1)]
    kind: str
    prompt: Text
    explanation: Text
    references: Annotated[list[Text], Field(min_length=1)]
    time_budget_s: Annotated[int, Field(ge=15, le=1800)]

    _source: tuple[Path, int] = PrivateAttr(default=(Path(), 0))

    @property
    def source(self) -> tuple[Path, int]:
        return self._source

    @property
    def parameterized(self) -> bool:
        """True when numbers are drawn per seed (so each seed is a new problem)."""
        return False

    def content_hash(self) -> str:
        """A stable hash of everything the question says (not where it was read from)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def placeholder_names(self) -> set[str]:
        """Names the prompt and explanation may use as ``{name}``."""
        return set()

    def explanation_names(self) -> set[str]:
        """Names only the explanation may use (``{answer}``: the key for these numbers)."""
        return set()

    @field_validator("title")
    @classmethod
    def _one_line(cls, title: str) -> str:
        if "\n" in title.strip():
            raise ValueError("must be one line")
        return title

    @field_validator("topic")
    @classmethod
    def _known_topic(cls, topic: str) -> str:
        if topic not in TOPICS:
            raise ValueError(
                f"unknown topic {topic!r} (topics: {', '.join(TOPICS)}; a new one is added to "
                "TOPICS in quiz/bank/schema.py and to docs/question-format.md)"
            )
        return topic

    @field_validator("explanation")
    @classmethod
    def _two_sentences(cls, text: str) -> str:
        sentences = [s for s in _SENTENCE_END.split(text) if len(s.split()) >= 3]
        if len(sentences) < 2:
            raise ValueError("must be at least two sentences")
        return text

    @model_validator(mode="after")
    def _placeholders_known(self) -> Question:
        for field in ("prompt", "explanation"):
            allowed = self.placeholder_names()
            if field == "explanation":
                allowed |= self.explanation_names()
            unknown = sorted(set(placeholders(getattr(self, field))) - allowed)
            if unknown:
                names = ", ".join(f"{{{name}}}" for name in unknown)
                known = ", ".join(sorted(allowed)) or "none"
                raise problem_at(
                    field,
                    f"placeholder {names} names no parameter (parameters: {known}; "
                    "write {{ and }} for literal braces)",
                )
        shown = set(placeholders(self.prompt))
        for param, showing in self._params_shown_by().items():
            if not shown & showing:
                raise problem_at("prompt", f"parameter '{param}' is never shown in the prompt")
        return self

    def _params_shown_by(self) -> dict[str, set[str]]:
        """Each parameter, and the placeholders that would show it."""
        return {}


class ChoiceQuestion(Question):
    kind: Literal["choice"]
    choices: Annotated[list[Text], Field(min_length=2, max_length=len(OPTION_IDS))]
    answer: str

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[str]) -> list[str]:
        return _distinct(choices, "choice")

    @field_validator("answer")
    @classmethod
    def _among_options(cls, answer: str, info: ValidationInfo) -> str:
        return _option_id(answer, info.data.get("choices"))


class MultiQuestion(Question):
    kind: Literal["multi"]
    choices: Annotated[list[Text], Field(min_length=2, max_length=len(OPTION_IDS))]
    answer: Annotated[list[str], Field(min_length=1)]

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[str]) -> list[str]:
        return _distinct(choices, "choice")

    @field_validator("answer")
    @classmethod
    def _among_options(cls, answer: list[str], info: ValidationInfo) -> list[str]:
        ids = [_option_id(item, info.data.get("choices")) for item in answer]
        if len(set(ids)) != len(ids):
            raise ValueError(f"lists an option twice: {answer}")
        return ids


def _distinct(items: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for item in items:
        if item.strip() in seen:
            raise ValueError(f"the {what} {item!r} appears twice")
        seen.add(item.strip())
    return items


def _option_id(answer: str, choices: list[str] | None) -> str:
    if choices is None:  # the choices themselves are wrong; that is reported on their own
        return answer
    ids = list(OPTION_IDS[: len(choices)])
    if answer.strip().upper() not in ids:
        raise ValueError(f"{answer!r} is not among the options {ids[0]}-{ids[-1]}")
    return answer.strip().upper()


class _ParamQuestion(Question):
    params: dict[str, Param] = {}

    @property
    def parameterized(self) -> bool:
        return bool(self.params)

    @field_validator("params")
    @classmethod
    def _names(cls, params: dict[str, Param]) -> dict[str, Param]:
        for name in params:
            if not _PARAM_NAME.fullmatch(name):
                raise ValueError(f"parameter name {name!r} must be lower_snake_case")
            if name in FUNCTIONS:
                raise ValueError(f"parameter name {name!r} is a function name")
            if name == ANSWER_PLACEHOLDER:
                raise ValueError(f"parameter name {name!r} is reserved for the key")
        generated = [f"{n}_name" for n, s in params.items() if isinstance(s, ChoicesParam)]
        clash = sorted(set(generated) & set(params))
        if clash:
            raise ValueError(f"parameter {clash[0]!r} clashes with a named choice's name")
        return params

    def placeholder_names(self) -> set[str]:
        named = {f"{n}_name" for n, spec in self.params.items() if isinstance(spec, ChoicesParam)}
        return set(self.params) | named

    def explanation_names(self) -> set[str]:
        return {ANSWER_PLACEHOLDER} if self.params else set()

    def _params_shown_by(self) -> dict[str, set[str]]:
        return {name: {name, f"{name}_name"} for name in self.params}

    @staticmethod
    def _check_formula(answer: _QuantityAnswer, info: ValidationInfo) -> None:
        if "params" not in info.data:
            return  # the params are broken; that is reported on its own
        params = info.data["params"]
        if answer.formula is not None:
            problems = check_formula(answer.formula, params or {})
            if problems:
                raise problem_at("formula", "; ".join(problems))
        elif params:
            raise problem_at("value", "parameters are only used by a formula: give 'formula'")


class NumericQuestion(_ParamQuestion):
    kind: Literal["numeric"]
    answer: NumericAnswer

    @field_validator("answer")
    @classmethod
    def _formula(cls, answer: NumericAnswer, info: ValidationInfo) -> NumericAnswer:
        cls._check_formula(answer, info)
        return answer


class EstimateQuestion(_ParamQuestion):
    kind: Literal["estimate"]
    answer: EstimateAnswer

    @field_validator("answer")
    @classmethod
    def _formula(cls, answer: EstimateAnswer, info: ValidationInfo) -> EstimateAnswer:
        cls._check_formula(answer, info)
        return answer


ORDER_MAX_ITEMS = 9  # the app places a step by its letter, a to i (j and k move the highlight)


class OrderQuestion(Question):
    kind: Literal["order"]
    items: Annotated[list[Text], Field(min_length=2)]

    @field_validator("items")
    @classmethod
    def _placeable_by_letter(cls, items: list[str]) -> list[str]:
        if len(items) > ORDER_MAX_ITEMS:
            last = OPTION_IDS[ORDER_MAX_ITEMS - 1].lower()
            raise ValueError(
                f"{len(items)} steps: an order question has at most {ORDER_MAX_ITEMS}"
                f" (the app places each step by its letter, a to {last})"
            )
        return items

    @field_validator("items")
    @classmethod
    def _distinct(cls, items: list[str]) -> list[str]:
        return _distinct(items, "item")


class ShortQuestion(Question):
    kind: Literal["short"]
    answer: ShortAnswer


class PracticalQuestion(Question):
    kind: Literal["practical"]
    practical: Kebab


MODELS: dict[str, type[Question]] = {
    "choice": ChoiceQuestion,
    "multi": MultiQuestion,
    "numeric": NumericQuestion,
    "estimate": EstimateQuestion,
    "order": OrderQuestion,
    "short": ShortQuestion,
    "practical": PracticalQuestion,
}
