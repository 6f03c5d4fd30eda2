"""Short answers: rubric concepts with weights, misconception penalties, tolerant matching."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from quiz.bank import Rubric, instantiate, load_bank
from quiz.bank.schema import Concept, Misconception
from quiz.errors import AnswerFormatError
from quiz.grading import grade
from quiz.grading.short import contains, stem, words

BANK = load_bank([Path(__file__).parent / "fixtures" / "bank" / "good"])
# Concepts: "time per request" (2), "work per unit time" (2), "batching trade-off" (1);
# misconception "latency is the inverse of throughput" costs 0.3; pass score 0.6.
LATENCY = instantiate(BANK.get("latency-vs-throughput"))


def test_an_answer_covering_every_concept_scores_full() -> None:
    verdict = grade(
        LATENCY,
        "Latency is how long one request takes. Throughput is requests per second, "
        "and batching raises it.",
    )
    assert (verdict.score, verdict.correct) == (1.0, True)
    assert verdict.feedback == "Covered: time per request, work per unit time, batching trade-off."
    assert verdict.expected.startswith("Latency is the time one request takes")


def test_score_is_the_matched_weight_share() -> None:
    verdict = grade(LATENCY, "Latency: the TIME PER REQUEST. Throughput: tokens/s.")
    assert verdict.score == pytest.approx(4 / 5)
    assert verdict.correct is True
    assert (
        verdict.feedback
        == "Covered: time per request, work per unit time. Missing: batching trade-off."
    )
    only_batching = grade(LATENCY, "It depends on the batch size.")
    assert only_batching.score == pytest.approx(1 / 5)
    assert only_batching.correct is False


def test_misconceptions_cost_points_and_are_explained() -> None:
    verdict = grade(LATENCY, "Latency is the inverse of throughput, which is tokens per second.")
    assert verdict.score == pytest.approx(2 / 5 - 0.3)
    assert verdict.feedback.endswith("Misconception: Only at batch 1 with no queueing.")
    assert grade(LATENCY, "Latency is the inverse of throughput.").score == 0.0  # clamped


def test_nothing_relevant_scores_zero() -> None:
    verdict = grade(LATENCY, "GPUs are fast.")
    assert (verdict.score, verdict.correct) == (0.0, False)
    assert verdict.feedback.startswith("Missing: time per request")


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("batching", "Batches are formed"),
        ("batch size", "with larger batch-sizes"),
        ("kv cache", "the KV-caches grow"),
        ("caching", "prefix cache hits"),
        ("quantized weights", "quantizing weight"),
        ("memory-bound", "decode is memory bound!"),
        ("queries", "every query"),
        ("stopped", "it stops"),
    ],
)
def test_matching_tolerates_case_punctuation_plurals_and_suffixes(phrase: str, text: str) -> None:
    assert contains(words(text), phrase)


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("time per request", "time for each request"),  # words must be consecutive
        ("latency", "the latent space"),
        ("batch", "a bat"),
    ],
)
def test_matching_is_not_a_substring_search(phrase: str, text: str) -> None:
    assert not contains(words(text), phrase)


def test_stems_are_consistent() -> None:
    assert stem("batches") == stem("batching") == stem("batched") == stem("batch")
    assert stem("caches") == stem("caching") == stem("cache")
    assert stem("policies") == stem("policy")
    assert stem("bus") == "bus" and stem("class") == "class"


def test_pass_score_decides_correct() -> None:
    rubric = Rubric(
        model="m",
        concepts=(
            Concept(name="a", weight=1, phrases=["alpha"]),
            Concept(name="b", weight=1, phrases=["beta"]),
        ),
        misconceptions=(Misconception(phrases=["gamma"], penalty=0.5, note="No."),),
        pass_score=0.5,
    )
    strict = dataclasses.replace(LATENCY, key=rubric)
    assert grade(strict, "alpha").correct is True
    assert grade(strict, "alpha gamma").correct is False


def test_an_empty_answer_is_a_format_error() -> None:
    with pytest.raises(AnswerFormatError, match="empty"):
        grade(LATENCY, "   ")
