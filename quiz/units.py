"""Units for numeric answers: the unit table, parsing ("2 GiB", "3,000 tokens/s", "40%"),
conversion and human formatting.

A quantity is held as a value in its dimension's base unit (B, s, FLOP, FLOP/s, B/s, tokens,
tokens/s, requests/s, USD, USD/h, or a plain number). Unit names are case-sensitive, as
written in docs/question-format.md; a unit that only differs by case is suggested, never guessed
(``Gb/s`` is gigabits to a network engineer, not ``GB/s``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from quiz.errors import AnswerFormatError


@dataclass(frozen=True)
class Dimension:
    name: str
    noun: str  # "a size", used in messages
    example: str  # "2 GiB"


SIZE = Dimension("size", "a size", "2 GiB")
BANDWIDTH = Dimension("bandwidth", "a bandwidth", "900 GB/s")
TIME = Dimension("time", "a time", "20 ms")
COMPUTE = Dimension("compute", "an amount of compute", "2 TFLOP")
COMPUTE_RATE = Dimension("compute rate", "a compute rate", "989 TFLOP/s")
TOKENS = Dimension("tokens", "a number of tokens", "4096 tokens")
TOKEN_RATE = Dimension("token rate", "a token rate", "3000 tokens/s")
REQUEST_RATE = Dimension("request rate", "a request rate", "20 requests/s")
MONEY = Dimension("money", "an amount of money", "1.50 USD")
MONEY_RATE = Dimension("money rate", "a cost per hour", "2.50 USD/h")
NUMBER = Dimension("number", "a plain number", "2.5")


@dataclass(frozen=True)
class Unit:
    name: str
    dimension: Dimension
    factor: float  # how many base units one of this unit is


def _table() -> dict[str, Unit]:
    decimal = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
    binary = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
    sizes = {p: f for p, f in decimal.items() if p != "P"} | binary
    groups: list[tuple[Dimension, dict[str, float]]] = [
        (SIZE, {f"{p}B": f for p, f in sizes.items()} | {"bytes": 1.0}),
        (BANDWIDTH, {f"{p}B/s": f for p, f in sizes.items()}),
        (
            TIME,
            {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0},
        ),
        (COMPUTE, {f"{p}FLOP": f for p, f in decimal.items()}),
        (COMPUTE_RATE, {f"{p}FLOP/s": f for p, f in decimal.items()} | {"TFLOPS": 1e12}),
        (TOKENS, {"tokens": 1.0}),
        (TOKEN_RATE, {"tokens/s": 1.0, "tok/s": 1.0}),
        (REQUEST_RATE, {"requests/s": 1.0}),
        (MONEY, {"USD": 1.0}),
        (MONEY_RATE, {"USD/h": 1.0}),
        (NUMBER, {"": 1.0, "x": 1.0, "%": 0.01, "FLOP/B": 1.0, "GPUs": 1.0, "count": 1.0}),
    ]
    return {name: Unit(name, dim, f) for dim, factors in groups for name, f in factors.items()}


UNITS: dict[str, Unit] = _table()

# Spellings people type that mean exactly one unit; the table's names stay the documented ones.
_ALIASES = {
    "byte": "B",
    "kB": "KB",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "μs": "µs",  # Greek mu, which some keyboards produce instead of the micro sign
    "hour": "h",
    "hours": "h",
    "token": "tokens",
    "tok": "tokens",
    "token/s": "tokens/s",
    "req/s": "requests/s",
    "GPU": "GPUs",
    "GFLOPS": "GFLOP/s",
    "PFLOPS": "PFLOP/s",
    "×": "x",
    "$": "USD",
    "$/h": "USD/h",
}

_NUMBER = re.compile(
    r"""\s*[~≈]?\s*(?P<number>[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?)
    \s*(?P<unit>.*?)\s*$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Quantity:
    """A value in its dimension's base unit, and the unit it was written in."""

    value: float
    dimension: Dimension
    unit: str

    def to(self, unit: str) -> float:
        """This quantity expressed in ``unit`` (AnswerFormatError if the dimensions differ)."""
        target = lookup(unit)
        _require_same_dimension(target, lookup(self.unit))
        return self.value / target.factor


def is_unit(name: str) -> bool:
    """True for a unit name from the table (as written in docs/question-format.md) or an alias."""
    return name in UNITS or name in _ALIASES


def lookup(name: str) -> Unit:
    """The unit called ``name``; AnswerFormatError naming close spellings for an unknown one."""
    canonical = _ALIASES.get(name, name)
    if canonical in UNITS:
        return UNITS[canonical]
    near = [known for known in UNITS if known and known.lower() == name.lower()]
    hint = f" (units are case-sensitive: did you mean {near[0]!r}?)" if near else ""
    raise AnswerFormatError(f"unknown unit '{name}'{hint}")


def dimension_of(unit: str) -> Dimension:
    return lookup(unit).dimension


def _require_same_dimension(expected: Unit, got: Unit) -> None:
    if expected.dimension != got.dimension:
        shown = f" ({got.name})" if got.name else ""
        raise AnswerFormatError(
            f"expected {expected.dimension.noun} like '{expected.dimension.example}', "
            f"got {got.dimension.noun}{shown}"
        )


def parse_quantity(text: str, default_unit: str | None = None) -> Quantity:
    """Read "2 GiB", "2048MiB", "1.5e9 B", "3,000 tokens/s", "40%", "2.5x", "$1.20".

    A bare number is read in ``default_unit`` (a plain number when that is None).
    """
    stripped = text.strip()
    if stripped.startswith("$"):  # "$1.20" and "$2/h": the dollar sign names the unit
        stripped = stripped[1:]
        match = _NUMBER.fullmatch(stripped)
        if match and (not match["unit"] or match["unit"].startswith("/")):
            stripped = f"{match['number']} USD{match['unit']}"
    match = _NUMBER.fullmatch(stripped)
    number = match["number"] if match else ""
    if not match or not any(ch.isdigit() for ch in number):
        raise AnswerFormatError(
            f"expected a number with an optional unit (like '2 GiB'), got {text!r}"
        )
    written = match["unit"]
    unit = lookup(written if written else (default_unit or ""))
    value = float(number.replace(",", ""))
    if not math.isfinite(value):
        raise AnswerFormatError(f"the number in {text!r} is out of range")
    return Quantity(value * unit.factor, unit.dimension, unit.name)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` written in ``from_unit``, expressed in ``to_unit`` (AnswerFormatError across dimensions)."""
    source, target = lookup(from_unit), lookup(to_unit)
    _require_same_dimension(target, source)
    return value * source.factor / target.factor


def format_number(value: float, digits: int = 4) -> str:
    """``value`` for people: ``digits`` significant digits but never fewer than its integer
    digits, thousands separators, no trailing zeros, exponent notation only outside 1e-6..1e15:
    "1.25", "32,768", "0.000125", "1.2e+20"."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 15 or magnitude < -6:
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        return f"{_strip_zeros(mantissa)}e{exponent}"
    decimals = max(digits - 1 - magnitude, 0)
    text = _strip_zeros(f"{round(value, decimals):,.{decimals}f}")
    return "0" if text == "-0" else text


def _strip_zeros(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_quantity(value: float, unit: str, digits: int = 4) -> str:
    """``value`` (written in ``unit``) for people: "1.25 GiB", "40%", "2.5x", "3,000 tokens/s"."""
    name = lookup(unit).name
    number = format_number(value, digits)
    if name in ("", "%", "x"):
        return f"{number}{name}"
    return f"{number} {name}"
