"""Units for numeric answers, with pint: parsing what people type ("2 GiB", "3,000 tokens/s",
"FLOP/byte", "µs", "microseconds", "USD per million tokens", "tokens/s/GPU", "1472/4096"),
converting, refusing a quantity of the wrong dimension with a hint, and formatting for people.

The registry is built from scratch (no pint defaults): SI and binary prefixes, seconds, bytes
and bits, FLOP, tokens, requests, GPUs, USD, percent and the ratio ``x``. Each of FLOP, byte,
token, request, GPU, USD and the ratio ``x`` is a dimension of its own, so "125 GPUs" is never
an arithmetic intensity and "0.359x" never a percentage. Unit names are case-sensitive; a unit
that only differs by case is suggested, never guessed (``Gb/s`` is gigabits, not ``GB/s``).
"""

from __future__ import annotations

import ast
import cmath
import functools
import math
import operator
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pint

from quiz import unit_expressions
from quiz.errors import AnswerFormatError

_DEFINITIONS = """\
kilo- = 1e3 = k- = K-
mega- = 1e6 = M-
giga- = 1e9 = G-
tera- = 1e12 = T-
peta- = 1e15 = P-
milli- = 1e-3 = m-
micro- = 1e-6 = µ- = μ- = u-
nano- = 1e-9 = n-
kibi- = 2**10 = Ki-
mebi- = 2**20 = Mi-
gibi- = 2**30 = Gi-
tebi- = 2**40 = Ti-
second = [time] = s = sec
minute = 60 * second = min
hour = 60 * minute = h = hr
byte = [size] = B
bit = byte / 8 = b
FLOP = [compute] = flop
FLOPS = FLOP / second
token = [token] = tok
request = [request] = req
GPU = [gpu]
USD = [money] = dollar
times = [ratio] = x
percent = 0.01 = %
count = 1
thousand = 1e3
million = 1e6
billion = 1e9
"""

PLAIN_NUMBER_FORMS = "0.4, 40% or 2/5"  # how a dimensionless answer may be typed

REGISTRY: pint.UnitRegistry = pint.UnitRegistry(None, case_sensitive=True)
for _line in _DEFINITIONS.splitlines():
    REGISTRY.define(_line)


@dataclass(frozen=True)
class Dimension:
    name: str
    noun: str  # "a size", used in messages
    example: str  # "2 GiB"


def _dims(**powers: int) -> frozenset[tuple[str, int]]:
    return frozenset((f"[{name}]", power) for name, power in powers.items())


_DIMENSIONS: dict[frozenset[tuple[str, int]], Dimension] = {
    _dims(size=1): Dimension("size", "a size", "2 GiB"),
    _dims(size=1, time=-1): Dimension("bandwidth", "a bandwidth", "900 GB/s"),
    _dims(time=1): Dimension("time", "a time", "20 ms"),
    _dims(compute=1): Dimension("compute", "an amount of compute", "2 TFLOP"),
    _dims(compute=1, time=-1): Dimension("compute rate", "a compute rate", "989 TFLOP/s"),
    _dims(compute=1, size=-1): Dimension("arithmetic intensity", "FLOP per byte", "120 FLOP/byte"),
    _dims(token=1): Dimension("tokens", "a number of tokens", "4096 tokens"),
    _dims(token=1, time=-1): Dimension("token rate", "a token rate", "3000 tokens/s"),
    _dims(token=1, time=-1, gpu=-1): Dimension(
        "token rate per GPU", "tokens per second per GPU", "1500 tokens/s/GPU"
    ),
    _dims(request=1, time=-1): Dimension("request rate", "a request rate", "20 requests/s"),
    _dims(money=1): Dimension("money", "an amount of money", "1.50 USD"),
    _dims(money=1, time=-1): Dimension("money rate", "a cost per hour", "2.50 USD/h"),
    _dims(money=1, token=-1): Dimension(
        "price per token", "a price per token", "0.60 USD per million tokens"
    ),
    _dims(gpu=1): Dimension("GPUs", "a count of GPUs", "8 GPUs"),
    _dims(ratio=1): Dimension("ratio", "a ratio like a speed-up", "2.5x"),
    frozenset(): Dimension("number", "a plain number or percentage", PLAIN_NUMBER_FORMS),
}

# What people type that pint would read differently, or not at all.
_SPELLINGS = [
    (re.compile(r"\bbytes?\b"), "byte"),
    (re.compile(r"\b(K|M|G|T|P)?FLOPs\b"), r"\1FLOP"),  # "2 TFLOPs" is an amount, not a rate
    (re.compile(r"\bGPU-hours?\b"), "GPU * hour"),
    (re.compile(r"\bGPUs\b"), "GPU"),
    (re.compile(r"\$"), "USD"),
    (re.compile(r"×"), "x"),
    (re.compile(r"(\d)\s*M\b"), r"\1e6"),  # "per 1M tokens"
    (re.compile(r"(\d)\s*[kK]\b"), r"\1e3"),
]
_UNIT_TEXT = re.compile(r"[A-Za-zµμ%$×(][A-Za-z0-9µμ%$×/*()^.\s-]*")
_PER = re.compile(r"\bper\s+([^/]+?)(?=\s+per\b|/|$)")

# Arithmetic typed before the unit: "1472/4096", "22/2.4 ms", "(5*2+12)*0.4/(1-0.6^6) ms"
_EXPRESSION_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)|(?P<op>\*\*|[-+*/^()]))"
)
# A sign between a unit and a number ("ms + 799"), not an exponent's ("1e-3")
_SUM_SIGN = re.compile(r"(?<=[A-Za-zµμ%$])(?<!\d[eE])\s*(?P<sign>[-+−])\s*(?=[\d.(])")
_RANGE = re.compile(r"\s*\d+(?:\.\d+)?\s*-\s*\d+(?:\.\d+)?\s*")  # "10-20": a range?
_OPERATIONS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}

# A number as people write it: "3,000", "1.5e9", ".5", "-2" (never an exponent alone: "E0")
_PLAIN_NUMBER = r"[+-]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER = re.compile(rf"\s*[~≈]?\s*(?P<number>{_PLAIN_NUMBER})\s*(?P<unit>.*?)\s*$")
_SIMPLE_UNIT = r"[A-Za-zµμ%$][A-Za-z0-9µμ%$* ^.-]*?"
# "GB / 5 ms" and "ms / 2.383": the rest of a quantity divided by a quantity or a number
_UNIT_OVER_QUANTITY = re.compile(
    rf"(?P<num_unit>{_SIMPLE_UNIT})\s*/\s*(?P<den>{_PLAIN_NUMBER})\s*(?P<den_unit>{_SIMPLE_UNIT})?\s*"
)
_QUOTIENT = re.compile(rf"\s*(?P<num>{_PLAIN_NUMBER})\s*{_UNIT_OVER_QUANTITY.pattern}")


@dataclass(frozen=True)
class Unit:
    name: str  # as written in the bank ("GiB", "tokens/s", "" for a plain number)
    dimension: Dimension
    pint_unit: Any  # the pint Quantity of one of this unit


@dataclass(frozen=True)
class Quantity:
    """A value in the unit it was written in, and how the text was read."""

    magnitude: float
    unit: str  # as written ("" for a bare number)
    dimension: Dimension
    reading: str = ""  # "1472/4096 = 0.3594", when the text needed reading
    bare: bool = False  # no unit was written

    def to(self, unit: str) -> float:
        """This quantity expressed in ``unit`` (AnswerFormatError, with a hint, if it measures
        something else)."""
        return convert(self.magnitude, self.unit, unit)


class _Unreadable(AnswerFormatError):
    """None of the written forms fits (arithmetic on quantities may still)."""


class _UnknownUnit(AnswerFormatError):
    """A unit nobody defined, or one that differs from a known one only by case."""


def _pint_text(name: str) -> str:
    text = name.strip()
    for pattern, replacement in _SPELLINGS:
        text = pattern.sub(replacement, text)
    return _PER.sub(lambda m: f"/ ({m[1].strip()})", text)


# What pint raises on text it cannot parse ("B)" ends in a TokenError, "B*" in an assertion,
# "x/0" divides by zero)
_UNREADABLE_UNIT = (
    ArithmeticError,
    pint.errors.PintError,
    SyntaxError,
    TypeError,
    ValueError,
    AttributeError,
    AssertionError,
    tokenize.TokenError,
)


@functools.lru_cache(maxsize=512)
def lookup(name: str) -> Unit:
    """The unit called ``name``; AnswerFormatError naming close spellings for an unknown one.
    Cached: an answer summing thousands of terms looks each unit up once (pint takes ~0.4 ms)."""
    if name.strip() and not _UNIT_TEXT.fullmatch(name.strip()):
        raise _UnknownUnit(f"unknown unit {name!r}")
    if _case_hint(name):  # "Kib" or "Gb/s" is a real unit, but probably not the one meant
        raise _UnknownUnit(f"unknown unit {name!r}{_case_hint(name)}")
    try:
        one = (
            REGISTRY.Quantity(1, "")
            if not name.strip()
            else REGISTRY.parse_expression(_pint_text(name))
        )
    except _UNREADABLE_UNIT:
        raise _UnknownUnit(f"unknown unit {name!r}{_case_hint(name)}") from None
    if not isinstance(one, pint.Quantity):
        one = REGISTRY.Quantity(float(one), "")
    powers = [*one.dimensionality.values(), *(power for _, power in one.unit_items())]
    # "GB*0" and "%01GB" (no amount of them is any), "GB**1e400" (a size to the infinite power),
    # "%**1e400" (no dimension, but a scale of 0.01 to the infinite power)
    if not all(cmath.isfinite(power) for power in powers):
        raise _UnknownUnit(f"unknown unit {name!r}")
    try:
        scales = (float(one.magnitude), float(one.to_base_units().magnitude))
    except _UNREADABLE_UNIT:
        raise _UnknownUnit(f"unknown unit {name!r}") from None
    if not all(0 < abs(scale) < math.inf for scale in scales):
        raise _UnknownUnit(f"unknown unit {name!r}")
    return Unit(name, _dimension(one), one)


def _case_hint(name: str) -> str:
    if name.strip() in KNOWN_UNITS or re.fullmatch(r"[KMGTP]?FLOPs", name.strip()):
        return ""
    for known in KNOWN_UNITS:
        if known and known.lower() == name.strip().lower() and known != name.strip():
            return f" (units are case-sensitive: did you mean {known!r}?)"
    return ""


def is_unit(name: str) -> bool:
    """True for anything ``lookup`` reads."""
    try:
        lookup(name)
    except AnswerFormatError:
        return False
    return True


def _dimension(quantity: Any) -> Dimension:
    key = frozenset(dict(quantity.dimensionality).items())
    if key in _DIMENSIONS:
        return _DIMENSIONS[key]
    shown = " ".join(f"{n.strip('[]')}^{p}" if p != 1 else n.strip("[]") for n, p in key)
    return Dimension(shown, f"a quantity in {shown}", "")


def dimension_of(unit: str) -> Dimension:
    return lookup(unit).dimension


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` written in ``from_unit``, expressed in ``to_unit`` (AnswerFormatError with a
    hint across dimensions)."""
    source, target = lookup(from_unit), lookup(to_unit)
    if source.dimension != target.dimension:
        raise AnswerFormatError(_wrong_dimension(source.dimension, target.dimension))
    ratio = (source.pint_unit / target.pint_unit).to("").magnitude
    converted = float(value * ratio)
    if not math.isfinite(converted):  # "1e308 s" in ms
        raise AnswerFormatError(f"{value:g} {from_unit} is out of range in {to_unit}")
    return converted


def _wrong_dimension(given: Dimension, wanted: Dimension, subject: str = "that") -> str:
    example = f" like '{wanted.example}'" if wanted.example else ""
    return f"{subject} is {given.noun}; the question asks for {wanted.noun}{example}"


def parse_quantity(text: str, default_unit: str | None = None) -> Quantity:
    """Read "2 GiB", "2048MiB", "1.5e9 B", "3,000 tokens/s", "40%", "2.5x", "$1.20",
    "USD per million tokens", "1472/4096", "22/2.4 ms", "(5*2+12)*0.4/(1-0.6^6) ms",
    "16 GB / 5 ms", "150 ms + 799*25 ms", and arithmetic on quantities that none of those forms
    cover: "(0.9*80 GiB - 16 GB)/(2*128 KiB/token)". A bare number (or arithmetic) is read in
    ``default_unit`` (a plain number when that is None)."""
    try:
        return _read_written_form(text, default_unit)
    except (_Unreadable, _UnknownUnit) as refused:
        try:
            value = unit_expressions.evaluate(text, _one_of, _noun_of)
            return _expression_quantity(text.strip(), value, default_unit)
        except unit_expressions.NotAnExpression:
            raise refused from None
        except AnswerFormatError:
            # "2 Gb/s" stays refused for its unit; "(2 GB + 3 ms)/2" now for adding a time
            if isinstance(refused, _UnknownUnit):
                raise refused from None
            raise


def _one_of(word: str) -> Any:
    return lookup(word).pint_unit


def _noun_of(value: Any) -> str:
    return _dimension(value).noun if isinstance(value, pint.Quantity) else "a plain number"


def _expression_quantity(text: str, value: Any, default_unit: str | None) -> Quantity:
    """The value of arithmetic on quantities, in the question's unit (or, without one, in base
    units); AnswerFormatError when it measures something else."""
    if not isinstance(value, pint.Quantity):
        value = REGISTRY.Quantity(value, "")
    measured, wanted = _dimension(value), lookup(default_unit or "")
    try:
        if measured != wanted.dimension:
            if default_unit is not None:
                raise AnswerFormatError(_wrong_dimension(measured, wanted.dimension, repr(text)))
            wanted = lookup(str(value.to_base_units().units))
        magnitude = float((value / wanted.pint_unit).to("").magnitude)
    except _UNREADABLE_UNIT:
        raise AnswerFormatError(f"{text!r} cannot be computed") from None
    if not math.isfinite(magnitude):
        raise AnswerFormatError(f"the number in {text!r} is out of range")
    reading = f"{text} = {format_quantity(magnitude, wanted.name)}"
    return Quantity(magnitude, wanted.name, wanted.dimension, reading)


def _read_written_form(text: str, default_unit: str | None) -> Quantity:
    stripped = text.strip()
    terms = _sum_terms(stripped)
    if terms:  # "150 ms + 799*25 ms"
        return _read_sum(stripped, terms, default_unit)
    arithmetic = _leading_arithmetic(stripped)
    if arithmetic is not None:
        value, written = arithmetic
        over = _UNIT_OVER_QUANTITY.fullmatch(written)
        if over:  # "8.03e9*2 B / 5 ms"
            return _read_quotient(stripped, value, over, default_unit)
        if written:  # "22/2.383 ms": the result, in the unit written after it
            unit = lookup(written)
            reading = f"{stripped} = {format_number(value)} {unit.name}"
            return Quantity(value, unit.name, unit.dimension, reading, bare=False)
        reading = f"{stripped} = {format_number(value)}"
        unit = lookup(default_unit or "")
        if unit.dimension.name == "number":  # "1472/4096" where a percentage is asked: 35.94%
            unit = lookup("")
        return Quantity(value, unit.name, unit.dimension, reading, bare=True)
    quotient = _QUOTIENT.fullmatch(stripped)
    if quotient:
        numerator = float(quotient["num"].replace(",", ""))
        return _read_quotient(stripped, numerator, quotient, default_unit)
    if stripped.startswith("$"):  # "$1.20" and "$2/h": the dollar sign names the unit
        match = _NUMBER.fullmatch(stripped[1:])
        if match and (not match["unit"] or match["unit"].startswith("/")):
            stripped = f"{match['number']} USD{match['unit']}"
    match = _NUMBER.fullmatch(stripped)
    if not match:
        raise _Unreadable(f"expected a number with an optional unit (like '2 GiB'), got {text!r}")
    value = float(match["number"].replace(",", ""))
    if not math.isfinite(value):
        raise AnswerFormatError(f"the number in {text!r} is out of range")
    written = match["unit"]
    unit = lookup(written if written else (default_unit or ""))
    return Quantity(value, unit.name, unit.dimension, bare=not written)


def _sum_terms(text: str) -> list[tuple[int, str]] | None:
    """The signed terms of a sum of quantities ("150 ms + 799*25 ms", "2 GB - 512 MB"): split
    at each + or - outside brackets that follows a unit and comes before a number; None when
    there is no such sign ("10-20 ms", "1.5e-3 s" and "GPU-hours" have none)."""
    depth, depths = 0, []
    for char in text:
        depth += (char == "(") - (char == ")")
        depths.append(depth)
    terms: list[tuple[int, str]] = []
    start, sign = 0, 1
    for found in _SUM_SIGN.finditer(text):
        if depths[found.start("sign")] == 0:
            terms.append((sign, text[start : found.start()].strip()))
            start, sign = found.end(), -1 if found["sign"] in "-−" else 1
    if not terms:
        return None
    return [*terms, (sign, text[start:].strip())]


def _read_sum(text: str, terms: list[tuple[int, str]], default_unit: str | None) -> Quantity:
    """A sum of quantities that measure the same thing, in the question's unit where it fits
    (else the first term's); every term names its unit."""
    quantities = []
    for _, term in terms:
        quantity = parse_quantity(term)
        if quantity.bare:
            raise AnswerFormatError(f"{term!r} in {text!r} has no unit: give every term its unit")
        quantities.append(quantity)
    unit = _question_unit(lookup(quantities[0].unit), default_unit)
    total = 0.0
    for (sign, term), quantity in zip(terms, quantities, strict=True):
        if quantity.dimension != unit.dimension:
            raise AnswerFormatError(
                f"cannot add {term!r} to {terms[0][1]!r}: one is {quantity.dimension.noun}, "
                f"the other {unit.dimension.noun}"
            )
        total += sign * quantity.to(unit.name)
    if not math.isfinite(total):
        raise AnswerFormatError(f"the sum {text!r} is out of range")
    return Quantity(
        total, unit.name, unit.dimension, f"{text} = {format_quantity(total, unit.name)}"
    )


def _leading_arithmetic(text: str) -> tuple[float, str] | None:
    """(value, the unit written after it) when ``text`` starts with arithmetic on plain numbers
    (at least one operator between two of them: + - * / ^ and brackets); None otherwise."""
    tokens: list[re.Match[str]] = []
    position = 0
    while (token := _EXPRESSION_TOKEN.match(text, position)) is not None:
        tokens.append(token)
        position = token.end()
    while tokens and tokens[-1]["op"] not in (None, ")"):  # "100/s": "/s" is the unit
        tokens.pop()
    if not tokens:
        return None
    expression, written = text[: tokens[-1].end()], text[tokens[-1].end() :].strip()
    if written and not re.match(r"[A-Za-zµμ%$]", written):
        return None
    try:
        tree = ast.parse(expression.strip().replace("^", "**"), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.BinOp):
        return None
    if _RANGE.fullmatch(expression):
        raise AnswerFormatError(
            f"{text!r} reads as a range: give one number (or bracket a subtraction)"
        )
    try:
        value = _evaluate(tree)
    except _NotArithmetic:  # "2*(3)(4)": left to the plain reading, which names what is wrong
        return None
    except ZeroDivisionError:
        raise AnswerFormatError(f"{text!r} divides by zero") from None
    except OverflowError:
        value = math.inf
    if isinstance(value, complex):  # a negative number to a fractional power
        raise AnswerFormatError(f"{text!r} is not a real number")
    if not math.isfinite(value):
        raise AnswerFormatError(f"the number in {text!r} is out of range")
    return value, written


class _NotArithmetic(Exception):
    pass


def _evaluate(node: ast.expr) -> float:
    """Numbers, + - * / ** and signs only, in floats (a huge power overflows, never hangs);
    complex where a negative number is raised to a fractional power."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATIONS:
        return _OPERATIONS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise _NotArithmetic(ast.dump(node))


def _question_unit(unit: Unit, default_unit: str | None) -> Unit:
    """The question's unit where it measures the same as ``unit``, else ``unit``."""
    wanted = lookup(default_unit) if default_unit else None
    return wanted if wanted is not None and wanted.dimension == unit.dimension else unit


def _read_quotient(
    text: str, numerator: float, match: re.Match[str], default_unit: str | None
) -> Quantity:
    """``numerator num_unit / den [den_unit]`` (``match``: the unit and what divides it), in the
    question's unit where it measures the same."""
    denominator = float(match["den"].replace(",", ""))
    if denominator == 0:
        raise AnswerFormatError(f"{text!r} divides by zero")
    value = numerator / denominator
    if not math.isfinite(value):
        raise AnswerFormatError(f"the number in {text!r} is out of range")
    written = match["num_unit"].strip()
    if match["den_unit"]:
        parts = [written, match["den_unit"].strip()]
        written = "/".join(part if part.isalpha() else f"({part})" for part in parts)
    unit = _question_unit(lookup(written), default_unit)
    if unit.name != written:
        value = convert(value, written, unit.name)
    reading = f"{text} = {format_number(value)} {unit.name}".rstrip()
    return Quantity(value, unit.name, unit.dimension, reading)


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
    """``value`` (written in ``unit``) for people: "1.25 GiB", "40%", "2.5x", "3,000 tokens/s";
    a plain count is a number ("38.25", not "38.25 count")."""
    number = format_number(value, digits)
    if unit == "count":
        return number
    if unit in ("", "%", "x"):
        return f"{number}{unit}"
    return f"{number} {unit}"


# The names docs/question-format.md documents for the bank (anything lookup reads is accepted).
_KNOWN_UNITS_TEXT = """B KB MB GB TB KiB MiB GiB TiB bytes B/s KB/s MB/s GB/s TB/s GiB/s ns us µs
ms s min h FLOP KFLOP MFLOP GFLOP TFLOP PFLOP FLOP/s GFLOP/s TFLOP/s PFLOP/s TFLOPS tokens
tokens/s tok/s requests/s % USD USD/h x FLOP/B GPUs count"""
KNOWN_UNITS = (*_KNOWN_UNITS_TEXT.split(), "")
