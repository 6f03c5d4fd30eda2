"""Numeric: unit-aware, relative or absolute tolerance, feedback on how far off."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from quiz.bank import NumericKey, instantiate, load_bank
from quiz.errors import AnswerFormatError
from quiz.grading import grade

BANK = load_bank([Path(__file__).parent / "fixtures" / "bank" / "good"])
READ_TIME = instantiate(BANK.get("h100-weights-read-time"))  # 4.78 ms ± 0.1 ms (absolute)
KV = dataclasses.replace(
    instantiate(BANK.get("kv-cache-bytes-gqa")), key=NumericKey(2.0, "GiB", relative=0.02)
)


@pytest.mark.parametrize(
    "answer",
    [
        *("2 GiB", "2", "2.04 GiB", "1.96GiB", "2048 MiB", "2147483648 B", "2.147 GB", "2,048 MiB"),
        "4096/2 MiB",
    ],
)
def test_right_within_relative_tolerance_in_any_unit(answer: str) -> None:
    verdict = grade(KV, answer)
    assert (verdict.score, verdict.correct) == (1.0, True)
    assert verdict.expected == "2 GiB (±2%)"


@pytest.mark.parametrize("answer", ["2.05 GiB", "1.95", "2 GB", "4 GiB"])
def test_wrong_outside_relative_tolerance(answer: str) -> None:
    verdict = grade(KV, answer)
    assert (verdict.score, verdict.correct) == (0.0, False)


@pytest.mark.parametrize(
    ("answer", "how_far"),
    [
        ("4 GiB", "4 GiB is 2.0× too high"),
        ("0.5 GiB", "0.5 GiB is 4.0× too low"),
        ("2.2 GiB", "2.2 GiB is 10.0% too high"),
        ("2 GB", "1.863 GiB is 7.4% too low (did you mix GB and GiB?)"),
        ("2048 GiB", "2,048 GiB is 1024.0× too high"),
        ("2000 GiB", "2,000 GiB is 1000.0× too high (off by a unit prefix, 10^3?)"),
        ("-2 GiB", "-2 GiB is the wrong sign"),
        ("0", "0 GiB is off by 2 GiB"),
    ],
)
def test_feedback_says_how_far_off(answer: str, how_far: str) -> None:
    assert grade(KV, answer).feedback == f"{how_far}; the key is 2 GiB (±2%)."


@pytest.mark.parametrize(
    ("answer", "correct"),
    [("4.78", True), ("4.7 ms", True), ("4870 us", True), ("4.89 ms", False), ("4.65", False)],
)
def test_absolute_tolerance(answer: str, correct: bool) -> None:
    verdict = grade(READ_TIME, answer)
    assert verdict.correct is correct and verdict.score == float(correct)
    assert verdict.expected == "4.78 ms (±0.1 ms)"


def test_exact_answer_with_zero_tolerance_survives_unit_conversion() -> None:
    count = dataclasses.replace(READ_TIME, key=NumericKey(0.3, "s", absolute=0.0), unit="s")
    assert grade(count, "300 ms").correct
    assert not grade(count, "301 ms").correct


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("3 ms", r"^that is a time; the question asks for a size like '2 GiB'$"),
        ("3 GPUs", r"^that is a count of GPUs; the question asks for a size"),
        ("two gigabytes", "expected a number"),
        ("2 gib", "did you mean 'GiB'"),
        ("", "empty"),
    ],
)
def test_unreadable_or_wrong_dimension_is_a_format_error(answer: str, message: str) -> None:
    with pytest.raises(AnswerFormatError, match=message):
        grade(KV, answer)


def test_a_fraction_given_for_a_percentage_is_named() -> None:
    share = dataclasses.replace(READ_TIME, key=NumericKey(40.0, "%", absolute=0.5), unit="%")
    assert grade(share, "40").correct and grade(share, "40 %").correct
    assert grade(share, "0.4 %").feedback.startswith(
        "0.4% is 100.0× too low (a fraction where a percentage was asked?)"
    )
    as_fraction = grade(share, "0.4")
    assert as_fraction.correct
    assert as_fraction.feedback.startswith("Read 0.4 as a fraction: 40%.")
    from_ratio = grade(share, "1638/4096")
    assert from_ratio.correct
    assert from_ratio.feedback.startswith("Read 1638/4096 = 0.3999 = 39.99%.")
    with pytest.raises(AnswerFormatError, match="ratio like a speed-up"):
        grade(share, "0.4x")


def test_worked_arithmetic_is_echoed_once_in_the_keys_unit() -> None:
    speedup = dataclasses.replace(READ_TIME, key=NumericKey(1.5, "x", relative=0.02), unit="x")
    assert grade(speedup, "3/2").feedback.startswith("Read 3/2 = 1.5x. Correct")
    assert grade(READ_TIME, "9.56 ms / 2").feedback.startswith("Read 9.56 ms / 2 = 4.78 ms.")


def test_working_typed_with_units_is_graded_and_echoed() -> None:
    """What a user typed for a KV-cache size, units inside the brackets (refused before)."""
    verdict = grade(KV, "(8 GiB - 6144 MiB) * 1 token/token")
    assert (verdict.score, verdict.correct) == (1.0, True)
    assert verdict.feedback.startswith("Read (8 GiB - 6144 MiB) * 1 token/token = 2 GiB. Correct")
    assert not grade(KV, "(8 GiB - 6 GB)").correct  # 2.41 GiB: a GB/GiB mix-up is still wrong
