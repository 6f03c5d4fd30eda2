"""Arithmetic on quantities, as people write a back-of-the-envelope answer:
"(0.9*143771 MiB - 70553706496*2/4 B)/(80*2*2*128*2 B/token)", "(2 GB + 3 GB)/2 + 1 GB",
"2 * (4096 tokens) * 1 ms/token".

A unit written after a chain of numbers joined by ``*``, ``/`` and ``^`` applies to the whole
chain, as elsewhere in the app ("70553706496*2/4 B" is 35,276,853,248 B, "22/2.4 ms" is 9.17 ms);
an operator written after a unit starts a new quantity ("16 GB / 5 ms" is 3.2 GB/ms). Units are
looked up by the caller, so this module knows nothing of any registry but pint's arithmetic."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pint

from quiz.errors import AnswerFormatError

Value = Any  # a float, or a pint Quantity

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_WORD = r"[$%]|[A-Za-zµμ][A-Za-z0-9µμ_]*(?:-[A-Za-z][A-Za-z0-9]*)*"  # "GPU-hours" is one word
_TOKEN = re.compile(rf"\s*(?:(?P<number>{_NUMBER})|(?P<op>\*\*|[-+*/^()−])|(?P<unit>{_WORD}))")
_MAX_TOKENS = 200
_MAX_DEPTH = 40
_MAX_EXPONENT = 64.0


class NotAnExpression(Exception):
    """The text is not arithmetic on quantities (a caller's own reading may still apply)."""


class _Parser:
    def __init__(
        self, text: str, unit: Callable[[str], Value], describe: Callable[[Value], str]
    ) -> None:
        self.text = text
        self.unit = unit
        self.describe = describe
        self.tokens = _tokens(text)
        self.position = 0
        self.depth = 0

    def parse(self) -> Value:
        value = self.expression()
        if self.position != len(self.tokens):
            raise NotAnExpression(self.text)
        return value

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        at = self.position + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise NotAnExpression(self.text)
        self.position += 1
        return token

    def is_op(self, *ops: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token[0] == "op" and token[1] in ops

    def next_is_unit(self) -> bool:
        token = self.peek()
        return token is not None and token[0] == "unit"

    def starts_a_number(self, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and (token[0] == "number" or token[1] in ("(", "+", "-"))

    def expression(self) -> Value:
        value = self.term()
        while self.is_op("+", "-"):
            sign = self.take()[1]
            right = self.term()
            value = self.combine(value, right, "add" if sign == "+" else "subtract")
        return value

    def term(self) -> Value:
        value = self.quantity()
        while self.is_op("*", "/"):
            op = self.take()[1]
            value = self.multiply(value, op, self.quantity())
        return value

    def quantity(self) -> Value:
        token = self.peek()
        if token is None:
            raise NotAnExpression(self.text)
        if token == ("unit", "$") and self.starts_a_number(1):  # "$2.50"
            self.take()
            return self.chain() * self.unit("USD") * self.units()
        if token[0] == "unit":
            return self.units()
        value = self.chain()
        return value * self.units() if self.next_is_unit() else value

    def chain(self) -> Value:
        """Numbers (and bracketed expressions) joined by * and /, up to a unit."""
        value = self.signed()
        while self.is_op("*", "/") and self.starts_a_number(1):
            op = self.take()[1]
            value = self.multiply(value, op, self.signed())
        return value

    def signed(self) -> Value:
        if self.is_op("+", "-"):
            sign = self.take()[1]
            value = self.signed()
            return -value if sign == "-" else value
        return self.power(self.atom())

    def power(self, base: Value) -> Value:
        if not self.is_op("^", "**"):
            return base
        self.take()
        exponent = _plain(self.signed(), self.text)
        if abs(exponent) > _MAX_EXPONENT:
            raise AnswerFormatError(f"the exponent in {self.text!r} is out of range")
        if isinstance(base, pint.Quantity) and not exponent.is_integer():
            raise AnswerFormatError(
                f"{self.text!r} raises a unit to a fractional power: only whole powers have a "
                "meaning here"
            )
        value = base**exponent
        if isinstance(_magnitude_of(value), complex):  # a negative number to a fractional power
            raise AnswerFormatError(f"{self.text!r} is not a real number")
        return value

    def atom(self) -> Value:
        kind, text = self.take()
        if kind == "number":
            return float(text.replace(",", ""))
        if text != "(":
            raise NotAnExpression(self.text)
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise NotAnExpression(self.text)
        value = self.expression()
        if not self.is_op(")"):
            raise NotAnExpression(self.text)
        self.take()
        self.depth -= 1
        return value

    def units(self) -> Value:
        """One or more units written side by side ("GPU h"), each with an optional power."""
        value: Value = 1.0
        while self.next_is_unit():
            _, word = self.take()
            value = value * self.power(self.unit(word))
        return value

    def multiply(self, left: Value, op: str, right: Value) -> Value:
        """``left * right`` or ``left / right``, as ``op`` says."""
        if op == "*":
            return left * right
        if _magnitude(right) == 0:
            raise AnswerFormatError(f"{self.text!r} divides by zero")
        return left / right

    def combine(self, left: Value, right: Value, verb: str) -> Value:
        try:
            return left + right if verb == "add" else left - right
        except pint.errors.DimensionalityError:
            joint = "to" if verb == "add" else "from"
            raise AnswerFormatError(
                f"cannot {verb} {self.describe(right)} {joint} {self.describe(left)} "
                f"in {self.text!r}"
            ) from None


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None or len(tokens) >= _MAX_TOKENS:
            raise NotAnExpression(text)
        kind = match.lastgroup or ""
        token = match[kind]
        tokens.append((kind, "-" if token == "−" else token))
        position = match.end()
    return tokens


def _has_an_amount_and_a_unit(tokens: list[tuple[str, str]]) -> bool:
    """Whether a unit and a number that is not an exponent are both written."""
    amount = False
    for at, (kind, _) in enumerate(tokens):
        before = [text for _, text in tokens[max(at - 2, 0) : at]]
        exponent = before[-1:] in (["^"], ["**"]) or (
            len(before) == 2 and before[0] in ("^", "**") and before[1] in ("+", "-")
        )
        amount = amount or (kind == "number" and not exponent)
    return amount and any(kind == "unit" for kind, _ in tokens)


def _magnitude_of(value: Value) -> Any:
    return value.magnitude if isinstance(value, pint.Quantity) else value


def _magnitude(value: Value) -> float:
    return float(_magnitude_of(value))


def _plain(value: Value, text: str) -> float:
    if isinstance(value, pint.Quantity):
        if not value.dimensionless:
            raise AnswerFormatError(f"an exponent in {text!r} has a unit: it must be a number")
        value = value.to("").magnitude
    return float(value)


def evaluate(text: str, unit: Callable[[str], Value], describe: Callable[[Value], str]) -> Value:
    """The value of ``text``: a float or a pint Quantity. ``unit(word)`` is one of the unit
    written as ``word`` (AnswerFormatError for an unknown one); ``describe(value)`` names what a
    value measures, for messages. NotAnExpression when the text is not arithmetic on quantities
    with an amount and a unit; AnswerFormatError when it is but means nothing (a time added to
    a size, a division by zero, a result out of range)."""
    parser = _Parser(text.strip(), unit, describe)
    if not _has_an_amount_and_a_unit(parser.tokens):  # "GiB" and "GiB^2" are no answer; plain
        raise NotAnExpression(text)  # arithmetic is read by the caller
    try:
        value = parser.parse()
    except RecursionError:
        raise NotAnExpression(text) from None
    except (OverflowError, ZeroDivisionError):
        raise AnswerFormatError(f"the number in {text.strip()!r} is out of range") from None
    except (pint.errors.PintError, TypeError, ValueError):
        raise AnswerFormatError(f"{text.strip()!r} cannot be computed") from None
    if not math.isfinite(_magnitude(value)):
        raise AnswerFormatError(f"the number in {text.strip()!r} is out of range")
    return value
