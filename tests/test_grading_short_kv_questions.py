"""The key-point grader against answers to the KV-cache short questions
(tests/fixtures/short_answers_kv_questions.yaml): kv-cache-why-and-cost and paged-attention-why.
Right answers in varied wording, including ones that deny a misconception, are correct and sure;
confident wrong ones are sure fails with a point contradicted; partly right ones land in
between."""

from __future__ import annotations

import pytest

from tests.test_grading_short_answers import (
    _answer_set,
    _graded,
    assert_not_contradicting,
    assert_partly_right,
    assert_right,
    assert_sure_fail,
)

KV = _answer_set("short_answers_kv_questions.yaml")
QUESTIONS = {"kv-cache-why-and-cost", "paged-attention-why"}


def test_every_question_has_a_dozen_answers_of_every_class() -> None:
    assert set(KV) == QUESTIONS
    for question_id, groups in KV.items():
        assert {"paraphrase", "partial", "error", "negated", "keywords"} <= set(groups)
        assert sum(len(answers) for answers in groups.values()) >= 12, question_id


@pytest.mark.parametrize(("question_id", "kind", "answer"), _graded(("paraphrase",), KV))
def test_a_right_answer_is_correct_and_sure(question_id: str, kind: str, answer: str) -> None:
    assert_right(question_id, answer)


@pytest.mark.parametrize(("question_id", "kind", "answer"), _graded(("error", "negated"), KV))
def test_a_wrong_answer_is_a_sure_fail(question_id: str, kind: str, answer: str) -> None:
    """Each states a misconception (or denies the key points), so the grader is sure."""
    assert_sure_fail(question_id, answer)


@pytest.mark.parametrize(("question_id", "kind", "answer"), _graded(("partial",), KV))
def test_a_partly_right_answer_lands_in_between(question_id: str, kind: str, answer: str) -> None:
    assert_partly_right(question_id, answer)


@pytest.mark.parametrize(
    "sentence",
    [
        "It does not reduce the bytes per token: a token's KV takes the same memory.",
        "PagedAttention is not compression, and it does not make attention faster.",
        "Blocks need not be contiguous, so there is no external fragmentation.",
        "A sequence never wastes more than one partly filled block.",
        "Memory is no longer wasted on slots reserved for the maximum possible length.",
        "vLLM doesn't preallocate the max length; it allocates a block at a time.",
        "Swapping blocks to CPU exists, but only for preemption.",
    ],
)
def test_paged_attention_denials_of_its_misconceptions_are_not_contradictions(
    sentence: str,
) -> None:
    """A right answer says what PagedAttention does not do, or what it no longer needs: none of
    that may read as denying the pre-vLLM problem or the mechanism."""
    assert_not_contradicting("paged-attention-why", sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "Without the cache each step would have to recompute K and V for every earlier token.",
        "With the cache you don't need to recompute the whole prefix every step.",
        "It stores K and V instead of recomputing the entire prefix at each step.",
        "It is memory, not compute, that limits the batch size.",
        "Reading the cache isn't free: each step streams it from HBM.",
        "The cache doesn't grow quadratically; it grows linearly with tokens.",
        "Queries are not cached, only keys and values.",
    ],
)
def test_kv_cache_denials_of_its_misconceptions_are_not_contradictions(sentence: str) -> None:
    assert_not_contradicting("kv-cache-why-and-cost", sentence)
