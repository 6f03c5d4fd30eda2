"""Units: parsing what people type, converting, and formatting for people."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quiz.errors import AnswerFormatError
from quiz.units import UNITS, convert, format_number, format_quantity, parse_quantity

BY_DIMENSION: dict[str, list[str]] = {}
for _unit in UNITS.values():
    BY_DIMENSION.setdefault(_unit.dimension.name, []).append(_unit.name)

unit_names = st.sampled_from(sorted(UNITS))
same_dimension_units = st.sampled_from(sorted(BY_DIMENSION)).flatmap(
    lambda dim: st.tuples(*[st.sampled_from(BY_DIMENSION[dim])] * 3)
)
magnitudes = st.floats(min_value=1e-9, max_value=1e18, allow_nan=False, allow_infinity=False)
signs = st.sampled_from([1.0, -1.0])


@pytest.mark.parametrize(
    ("text", "base_value", "unit"),
    [
        ("2 GiB", 2 * 2**30, "GiB"),
        ("2048MiB", 2 * 2**30, "MiB"),
        ("1.5e9 B", 1.5e9, "B"),
        ("3,000 tokens/s", 3000, "tokens/s"),
        ("1,234,567 tokens", 1234567, "tokens"),
        ("40%", 0.4, "%"),
        ("40 %", 0.4, "%"),
        ("2.5x", 2.5, "x"),
        ("2.5×", 2.5, "x"),
        ("3 µs", 3e-6, "µs"),
        ("3 μs", 3e-6, "µs"),  # Greek mu
        ("3us", 3e-6, "us"),
        ("2 min", 120, "min"),
        ("1.5 h", 5400, "h"),
        ("989 TFLOPS", 989e12, "TFLOPS"),
        ("989 TFLOP/s", 989e12, "TFLOP/s"),
        ("2 PFLOP", 2e15, "PFLOP"),
        ("3.35 TB/s", 3.35e12, "TB/s"),
        ("  -5 ms ", -5e-3, "ms"),
        ("~20 ms", 0.02, "ms"),
        ("$1.20", 1.2, "USD"),
        ("$2.5/h", 2.5, "USD/h"),
        ("8 GPUs", 8, "GPUs"),
        ("120 FLOP/B", 120, "FLOP/B"),
        (".5 s", 0.5, "s"),
    ],
)
def test_parses_what_people_type(text: str, base_value: float, unit: str) -> None:
    quantity = parse_quantity(text)
    assert quantity.value == pytest.approx(base_value, rel=1e-12)
    assert quantity.unit == unit


def test_bare_number_is_read_in_the_default_unit() -> None:
    assert parse_quantity("2", default_unit="GiB").value == 2 * 2**30
    assert parse_quantity("2").dimension.name == "number"
    assert parse_quantity("2 MiB", default_unit="GiB").value == 2 * 2**20


@pytest.mark.parametrize(
    "text", ["", "GiB", "abc", "1,00 B", "2 GiB extra", "1.2.3", "nan", "inf", "-"]
)
def test_unreadable_answers_raise_answer_format_error(text: str) -> None:
    with pytest.raises(AnswerFormatError):
        parse_quantity(text)


def test_unknown_unit_suggests_the_case_sensitive_spelling() -> None:
    with pytest.raises(AnswerFormatError, match=r"unknown unit 'gib'.*did you mean 'GiB'"):
        parse_quantity("2 gib")


def test_bits_are_not_silently_read_as_bytes() -> None:
    with pytest.raises(AnswerFormatError, match="unknown unit 'Gb/s'"):
        parse_quantity("400 Gb/s")


def test_dimension_mismatch_names_what_was_expected_and_what_was_given() -> None:
    with pytest.raises(AnswerFormatError) as err:
        parse_quantity("3 s").to("GiB")
    assert str(err.value) == "expected a size like '2 GiB', got a time (s)"
    with pytest.raises(
        AnswerFormatError, match="expected a time like '20 ms', got a plain number$"
    ):
        convert(1.0, "", "ms")


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
        (2, "x", "%", 200),
        (1, "tok/s", "tokens/s", 1),
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
    ],
)
def test_format_quantity(value: float, unit: str, text: str) -> None:
    assert format_quantity(value, unit) == text


@given(unit_names, magnitudes, signs)
def test_formatted_values_parse_back_to_the_same_quantity(
    unit: str, size: float, sign: float
) -> None:
    value = sign * size
    quantity = parse_quantity(format_quantity(value, unit))
    assert quantity.unit == UNITS[unit].name
    assert quantity.to(unit) == pytest.approx(value, rel=6e-4)


@given(st.floats(min_value=1e-300, max_value=1e300), st.integers(min_value=1, max_value=8))
def test_format_number_keeps_the_requested_significant_digits(value: float, digits: int) -> None:
    text = format_number(value, digits)
    back = float(text.replace(",", ""))
    assert back == pytest.approx(value, rel=0.51 * 10 ** (1 - digits))


@given(same_dimension_units, magnitudes)
def test_conversions_round_trip_and_compose(units: tuple[str, str, str], value: float) -> None:
    a, b, c = units
    assert convert(convert(value, a, b), b, a) == pytest.approx(value, rel=1e-9)
    assert convert(value, a, c) == pytest.approx(convert(convert(value, a, b), b, c), rel=1e-9)


@given(unit_names, magnitudes)
def test_parse_agrees_with_convert_to_the_base_unit(unit: str, value: float) -> None:
    dimension = UNITS[unit].dimension.name
    base = next(name for name in BY_DIMENSION[dimension] if UNITS[name].factor == 1)
    quantity = parse_quantity(f"{value!r} {unit}")
    assert quantity.value == pytest.approx(convert(value, unit, base), rel=1e-12)


@given(unit_names, unit_names)
def test_convert_across_dimensions_always_refuses(first: str, second: str) -> None:
    if UNITS[first].dimension == UNITS[second].dimension:
        assert math.isfinite(convert(1.0, first, second))
    else:
        with pytest.raises(AnswerFormatError, match="^expected "):
            convert(1.0, first, second)
