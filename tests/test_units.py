"""Units (pint): parsing what people type, converting, refusing the wrong dimension with a
hint, and formatting for people."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quiz import units
from quiz.errors import AnswerFormatError
from quiz.units import (
    KNOWN_UNITS,
    convert,
    dimension_of,
    format_number,
    format_quantity,
    parse_quantity,
)

unit_names = st.sampled_from(sorted(KNOWN_UNITS))
magnitudes = st.floats(min_value=1e-9, max_value=1e18, allow_nan=False, allow_infinity=False)
signs = st.sampled_from([1.0, -1.0])


@pytest.mark.parametrize(
    ("text", "in_unit", "value"),
    [
        ("2 GiB", "B", 2 * 2**30),
        ("2048MiB", "GiB", 2),
        ("1.5e9 B", "GB", 1.5),
        ("3,000 tokens/s", "tokens/s", 3000),
        ("1,234,567 tokens", "tokens", 1234567),
        ("40%", "", 0.4),
        ("40 percent", "%", 40),
        ("2.5x", "x", 2.5),
        ("2.5×", "x", 2.5),
        ("3 µs", "s", 3e-6),
        ("3 μs", "us", 3),  # Greek mu
        ("3us", "ns", 3000),
        ("3 microseconds", "us", 3),
        ("2 min", "s", 120),
        ("1.5 h", "s", 5400),
        ("2 hours", "min", 120),
        ("989 TFLOPS", "FLOP/s", 989e12),
        ("989 TFLOP/s", "TFLOPS", 989),
        ("2 PFLOP", "TFLOP", 2000),
        ("2 TFLOPs", "GFLOP", 2000),  # an amount, not a rate
        ("3.35 TB/s", "GB/s", 3350),
        ("  -5 ms ", "s", -5e-3),
        ("~20 ms", "s", 0.02),
        ("$1.20", "USD", 1.2),
        ("$2.5/h", "USD/h", 2.5),
        ("8 GPUs", "GPUs", 8),
        ("8 GPU", "GPUs", 8),
        ("120 FLOP/B", "FLOP/B", 120),
        ("120 FLOP/byte", "FLOP/B", 120),
        ("120 FLOPs per byte", "FLOP/B", 120),
        (".5 s", "ms", 500),
        ("0.60 USD per million tokens", "USD/token", 0.6e-6),
        ("0.60 USD per 1M tokens", "USD per million tokens", 0.6),
        ("1500 tokens/s/GPU", "tokens/s per GPU", 1500),
        ("20 requests/s", "req/s", 20),
        ("400 Gbit/s", "GB/s", 50),
    ],
)
def test_parses_what_people_type(text: str, in_unit: str, value: float) -> None:
    assert parse_quantity(text).to(in_unit) == pytest.approx(value, rel=1e-12)


def test_bare_numbers_and_fractions() -> None:
    assert parse_quantity("2", default_unit="GiB").to("MiB") == 2048
    bare = parse_quantity("2")
    assert bare.bare and bare.dimension.name == "number"
    assert parse_quantity("2 MiB", default_unit="GiB").to("GiB") == 2 / 1024
    fraction = parse_quantity("1472/4096", default_unit="%")
    assert fraction.to("%") == pytest.approx(35.9375)
    assert fraction.reading == "1472/4096 = 0.3594"
    assert parse_quantity("3/2", default_unit="x").to("x") == 1.5
    quotient = parse_quantity("22/2.4 ms", default_unit="s")  # the unit after it is the unit
    assert quotient.to("ms") == pytest.approx(22 / 2.4) and not quotient.bare
    assert quotient.reading == "22/2.4 ms = 9.167 ms"
    assert parse_quantity("4096/2 MiB").to("GiB") == 2


@pytest.mark.parametrize(
    ("text", "unit", "value", "reading"),
    [
        ("16.06 GB / 5 ms", "TB/s", 3.212, "16.06 GB / 5 ms = 3.212 TB/s"),
        ("16.06GB/5ms", "GB/s", 3212, "16.06GB/5ms = 3,212 GB/s"),
        ("22 ms / 2.383", "ms", 22 / 2.383, "22 ms / 2.383 = 9.232 ms"),
        ("1.5e9 B / 2 s", "GB/s", 0.75, "1.5e9 B / 2 s = 0.75 GB/s"),
        ("2 GiB / 4 s", None, 0.5, "2 GiB / 4 s = 0.5 GiB/s"),
    ],
)
def test_a_quantity_divided_by_a_quantity(
    text: str, unit: str | None, value: float, reading: str
) -> None:
    """What people type for a Fermi step: read in the question's unit where it fits."""
    quotient = parse_quantity(text, default_unit=unit)
    assert quotient.to(unit or "GiB/s") == pytest.approx(value)
    assert quotient.reading == reading and not quotient.bare


@pytest.mark.parametrize(
    ("text", "unit", "value", "reading"),
    [
        ("(5*2+12)*0.4/(1-0.6^6) ms", "ms", 9.2307, "(5*2+12)*0.4/(1-0.6^6) ms = 9.231 ms"),
        ("8.03e9*2 B", "GB", 16.06, "8.03e9*2 B = 16,060,000,000 B"),
        ("8.03e9 * 2 B / 5 ms", "TB/s", 3.212, "8.03e9 * 2 B / 5 ms = 3.212 TB/s"),
        ("2*3*4", "x", 24, "2*3*4 = 24"),
        ("-5/2 ms", "ms", -2.5, "-5/2 ms = -2.5 ms"),
    ],
)
def test_arithmetic_before_the_unit_is_worked_out(
    text: str, unit: str, value: float, reading: str
) -> None:
    quantity = parse_quantity(text, default_unit=unit)
    assert quantity.to(unit) == pytest.approx(value, rel=1e-4)
    assert quantity.reading == reading


@pytest.mark.parametrize(
    ("text", "unit", "value", "reading"),
    [
        ("150 ms + 799*25 ms", "s", 20.125, "150 ms + 799*25 ms = 20.12 s"),
        ("0.15 s + 19.975 s", "ms", 20125, "0.15 s + 19.975 s = 20,125 ms"),
        ("2 GB - 512 MB", "GB", 1.488, "2 GB - 512 MB = 1.488 GB"),
        ("40% + 5%", "", 0.45, "40% + 5% = 45%"),
        ("3 ms + 4 ms + 5 ms", None, 12, "3 ms + 4 ms + 5 ms = 12 ms"),
        ("-150 ms + 2*25 ms", "ms", -100, "-150 ms + 2*25 ms = -100 ms"),
    ],
)
def test_a_sum_of_quantities_is_added_up(
    text: str, unit: str | None, value: float, reading: str
) -> None:
    """TTFT plus the decode steps, weights plus KV: typed as the sum it is."""
    total = parse_quantity(text, default_unit=unit)
    assert total.to(unit if unit is not None else "ms") == pytest.approx(value)
    assert total.reading == reading


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [("1.5e-3 s", "s", 0.0015), ("2 GPU-hours", "GPU-hours", 2), ("-2 ms", "ms", -2),
     ("(5*2+12)*0.4 ms", "ms", 8.8), ("(2+3) ms - 1 ms", "ms", 4)],
)  # fmt: skip
def test_signs_inside_a_number_a_unit_or_brackets_do_not_split_a_sum(
    text: str, unit: str, value: float
) -> None:
    assert parse_quantity(text).to(unit) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10-20 ms", "reads as a range"),  # not -10 ms
        ("10**10**10", "out of range"),  # floats overflow at once; an int power would hang
        ("(-8)^0.5", "is not a real number"),
        ("2/(3-3) s", "divides by zero"),
        ("100/s", "unknown unit '/s'"),
        ("150 ms + 20000", "'20000' in '150 ms + 20000' has no unit"),
        ("1 GB + 2 s", "cannot add '2 s' to '1 GB': one is a time, the other a size"),
        ("1e308 s + 1e308 s", "out of range"),
        ("1e308 s / 1", "1e+308 s is out of range in ms"),  # read as infinity before
    ],
)
def test_arithmetic_that_cannot_be_read_says_why(text: str, message: str) -> None:
    with pytest.raises(AnswerFormatError, match=re.escape(message)):
        parse_quantity(text, default_unit="ms")


def test_a_quotient_of_the_wrong_kind_is_named() -> None:
    with pytest.raises(
        AnswerFormatError, match="that is a bandwidth; the question asks for a time"
    ):
        parse_quantity("2 GiB / 4 s", default_unit="ms").to("ms")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "GiB",
        "abc",
        "1,00 B",
        "2 GiB extra",
        "1.2.3",
        "nan",
        "inf",
        "-",
        "1/0",
        "1/0 ms",
        "1 GB / 0 s",
        "1e308 GiB / .2",  # read as infinity before
        "0 %01GB",  # a unit with a scale of zero: adding to it divided by zero
        "0%01GB-2tokens",
        "1 GB**1e400 GB + 1 GB**1e400 GB",  # an infinite power: adding it crashed pint
        "1 %**1e400",  # no dimension, so no infinite power showed: 0.01 to it was read as 1
        "1 %**-1e400",
    ],
)
def test_unreadable_answers_raise_answer_format_error(text: str) -> None:
    with pytest.raises(AnswerFormatError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        # A user's working for a 70B model's KV capacity at TP=4 on an H200: refused before
        ("(0.9*143771 MiB - 70553706496*2/4 B)/(80*2*2*128*2 B/token)", "tokens", 1225616.27),
        ("(2 GB + 3 GB)/2 + 1 GB", "GB", 3.5),
        ("2 GiB/(1 B/token) + 5 tokens", "tokens", 2**31 + 5),
        ("5 tokens + 2 GiB/(1 B/token)", "tokens", 2**31 + 5),
        ("(1 GB)/(2 GB/s)", "ms", 500),
        ("2 * (4096 tokens) * 1 ms/token", "s", 8.192),
        ("($2.50/h) * 8 h + $1", "USD", 21),
        ("(2^20 B)", "KiB", 1024),
        ("3 * (2 GPU-hours)", "GPU-hours", 6),
        ("(50% * 2 GB)", "GB", 1),
        ("(2 TB/s)*1 ms", "GB", 2),
        ("(16 GB / 5 ms)", "GB/s", 3200),  # an operator after a unit starts a new quantity
        ("(70553706496*2/4 B)", "B", 35276853248),  # a unit after numbers applies to them all
    ],
)
def test_arithmetic_on_quantities_is_worked_out_in_the_questions_unit(
    text: str, unit: str, value: float
) -> None:
    quantity = parse_quantity(text, default_unit=unit)
    assert quantity.to(unit) == pytest.approx(value, rel=1e-9)
    assert quantity.reading.startswith(f"{text} = ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(2 GB + 3 ms)/2", "cannot add a time to a size in '(2 GB + 3 ms)/2'"),
        ("(1 GB)/(2 GB/s)", "'(1 GB)/(2 GB/s)' is a time; the question asks for a size"),
        ("(4 GB)^0.5", "raises a unit to a fractional power"),
        ("(1 GB)^(1 s)", "has a unit: it must be a number"),
        ("(1 GB)/(0 s)", "divides by zero"),
        ("(1 GB)^65", "exponent in '(1 GB)^65' is out of range"),
        ("(2 GiBs + 1 GB)", "unknown unit 'GiBs'"),
        ("(2 GB", "expected a number with an optional unit"),  # not arithmetic: as before
        ("2 Gb/s", "did you mean 'GB/s'?"),  # refused for its unit, as before
        ("GiB^2", "expected a number with an optional unit"),  # no amount
    ],
)
def test_arithmetic_on_quantities_that_means_nothing_says_why(text: str, message: str) -> None:
    with pytest.raises(AnswerFormatError, match=re.escape(message)):
        parse_quantity(text, default_unit="GB").to("GB")


def test_a_long_sum_looks_each_unit_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """5,000 terms took 2 s: pint parsed the unit of every term (about 0.4 ms each)."""
    parsed: list[str] = []
    parse = units.REGISTRY.parse_expression

    def counted(text: str) -> object:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(units.REGISTRY, "parse_expression", counted)
    units.lookup.cache_clear()
    total = parse_quantity(" + ".join(["1 ms"] * 5000 + ["1 us"]), "s")
    assert total.magnitude == pytest.approx(5.000001)
    assert sorted(parsed) == ["ms", "s", "us"], parsed[:5]


def test_unknown_unit_suggests_the_case_sensitive_spelling() -> None:
    with pytest.raises(AnswerFormatError, match=r"unknown unit 'gib'.*did you mean 'GiB'"):
        parse_quantity("2 gib")
    # gigabits to a network engineer: suggested, never guessed
    with pytest.raises(AnswerFormatError, match=r"unknown unit 'Gb/s'.*did you mean 'GB/s'"):
        parse_quantity("400 Gb/s")


@pytest.mark.parametrize(
    ("text", "unit", "message"),
    [
        ("125 GPUs", "FLOP/B", "that is a count of GPUs; the question asks for FLOP per byte"),
        ("0.359x", "%", "that is a ratio like a speed-up; the question asks for a plain number"),
        ("3 s", "GiB", "that is a time; the question asks for a size like '2 GiB'"),
        ("3 tokens/s", "tokens/s/GPU", "that is a token rate; the question asks for tokens per"),
        ("2 USD", "USD/h", "that is an amount of money; the question asks for a cost per hour"),
    ],
)
def test_the_wrong_dimension_is_refused_with_a_hint(text: str, unit: str, message: str) -> None:
    with pytest.raises(AnswerFormatError, match=f"^{message}"):
        parse_quantity(text).to(unit)


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (1, "GiB", "MiB", 1024),
        (1, "GB", "MB", 1000),
        (1, "GiB", "GB", 1.073741824),
        (1, "h", "s", 3600),
        (1, "ms", "us", 1000),
        (1, "us", "µs", 1),
        (1, "TFLOPS", "GFLOP/s", 1000),
        (50, "%", "", 0.5),
        (1, "tok/s", "tokens/s", 1),
        (8, "bit", "B", 1),
    ],
)
def test_convert(value: float, source: str, target: str, expected: float) -> None:
    assert convert(value, source, target) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1.25, "GiB", "1.25 GiB"),
        (32768, "tokens", "32,768 tokens"),
        (40, "%", "40%"),
        (2.5, "x", "2.5x"),
        (0.000125, "s", "0.000125 s"),
        (1.2e20, "FLOP", "1.2e+20 FLOP"),
        (1 / 3, "", "0.3333"),
        (4.8437, "GiB", "4.844 GiB"),
        (0, "ms", "0 ms"),
        (-2.5, "ms", "-2.5 ms"),
        (38.25, "count", "38.25"),
    ],
)
def test_format_quantity(value: float, unit: str, text: str) -> None:
    assert format_quantity(value, unit) == text


@given(unit_names, magnitudes, signs)
def test_formatted_values_parse_back_to_the_same_quantity(
    unit: str, size: float, sign: float
) -> None:
    value = sign * size
    assert parse_quantity(format_quantity(value, unit), default_unit=unit).to(
        unit
    ) == pytest.approx(value, rel=6e-4)


@given(st.floats(min_value=1e-300, max_value=1e300), st.integers(min_value=1, max_value=8))
def test_format_number_keeps_the_requested_significant_digits(value: float, digits: int) -> None:
    text = format_number(value, digits)
    back = float(text.replace(",", ""))
    assert back == pytest.approx(value, rel=0.51 * 10 ** (1 - digits))


@given(unit_names, unit_names, unit_names, magnitudes)
def test_conversions_round_trip_compose_and_refuse_across_dimensions(
    a: str, b: str, c: str, value: float
) -> None:
    if dimension_of(a) != dimension_of(b):
        with pytest.raises(AnswerFormatError, match="^that is "):
            convert(1.0, a, b)
        return
    assert convert(convert(value, a, b), b, a) == pytest.approx(value, rel=1e-9)
    if dimension_of(c) == dimension_of(a):
        assert convert(value, a, c) == pytest.approx(convert(convert(value, a, b), b, c), rel=1e-9)
    assert math.isfinite(convert(value, a, b))


@given(st.text(alphabet="0123456789.eE+-*/^() msGiBx%$,kMTµ", max_size=24))
def test_any_typed_text_is_read_or_refused_with_a_reason(text: str) -> None:
    """Whatever arithmetic-looking text comes in, the answer is a finite quantity or an
    AnswerFormatError (a bad answer never crashes the grader)."""
    try:
        quantity = parse_quantity(text, default_unit="ms")
    except AnswerFormatError:
        return
    assert math.isfinite(quantity.magnitude)


sizes = st.sampled_from(["B", "KB", "MB", "GB", "KiB", "MiB", "GiB"])
times = st.sampled_from(["ns", "us", "ms", "s", "min"])
amounts = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(amounts, sizes, amounts, sizes, amounts, times, st.integers(min_value=1, max_value=9))
def test_bracketed_arithmetic_on_quantities_equals_the_same_sum_done_by_hand(
    a: float, a_unit: str, b: float, b_unit: str, c: float, c_unit: str, n: int
) -> None:
    """'(a U + n*b V)/(c W)' in GB/s is the bandwidth computed unit by unit with convert()."""
    text = f"({a!r} {a_unit} + {n}*{b!r} {b_unit})/({c!r} {c_unit})"
    size_gb = convert(a, a_unit, "GB") + n * convert(b, b_unit, "GB")
    expected = size_gb / convert(c, c_unit, "s")
    assert parse_quantity(text, default_unit="GB/s").to("GB/s") == pytest.approx(expected, rel=1e-9)
