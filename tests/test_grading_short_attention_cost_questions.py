"""The key-point grader against answers to the attention-kernel and serving-cost short questions
(tests/fixtures/short_answers_attention_cost_questions.yaml): flash-attention-why and
batching-cost-per-token. Right answers in varied wording, including ones that mention a
misconception only to deny it, are correct and sure; confident wrong ones are sure fails with a
point contradicted; partly right ones land in between."""

from __future__ import annotations

import pytest

from tests.test_grading_short_answers import (
    _answer_set,
    _grade,
    _graded,
    assert_not_contradicting,
    assert_partly_right,
    assert_right,
    assert_sure_fail,
)

ANSWERS = _answer_set("short_answers_attention_cost_questions.yaml")
QUESTIONS = {"flash-attention-why", "batching-cost-per-token"}


def test_every_question_has_a_dozen_answers_of_every_class() -> None:
    assert set(ANSWERS) == QUESTIONS
    for question_id, groups in ANSWERS.items():
        assert {"paraphrase", "partial", "error", "negated", "keywords"} <= set(groups)
        assert len(groups["paraphrase"]) >= 12, question_id
        assert len(groups["partial"]) >= 4 and len(groups["error"]) >= 6, question_id


@pytest.mark.parametrize(("question_id", "kind", "answer"), _graded(("paraphrase",), ANSWERS))
def test_a_right_answer_is_correct_and_sure(question_id: str, kind: str, answer: str) -> None:
    assert_right(question_id, answer)


@pytest.mark.parametrize(("question_id", "kind", "answer"), _graded(("error", "negated"), ANSWERS))
def test_a_wrong_answer_is_a_sure_fail(question_id: str, kind: str, answer: str) -> None:
    """Each states a misconception (or denies the key points), so the grader is sure, even where
    the answer also gets part of the mechanism right."""
    assert_sure_fail(question_id, answer)


@pytest.mark.parametrize(("question_id", "kind", "answer"), _graded(("partial",), ANSWERS))
def test_a_partly_right_answer_lands_in_between(question_id: str, kind: str, answer: str) -> None:
    verdict = assert_partly_right(question_id, answer)
    assert not any(p.status == "contradicted" for p in verdict.points), verdict.feedback


def test_mechanism_and_one_limit_is_not_yet_a_pass() -> None:
    """Why cost per token falls plus a single limit (compute) leaves out the two that usually
    bite first, KV-cache memory and the latency SLO: 7 of 11, under the pass score of 0.65."""
    verdict = _grade(
        "batching-cost-per-token",
        "Decode is memory-bound at small batch, since the weights are read once per step for the "
        "whole batch, so throughput grows almost linearly and cost per token falls. It stops "
        "falling once the step becomes compute-bound near the ridge point.",
    )
    assert not verdict.correct and 0.6 < verdict.score < 0.65, verdict.feedback


@pytest.mark.parametrize(
    "sentence",
    [
        "FlashAttention does not write S or P to HBM.",
        "The attention matrix doesn't go to HBM.",
        "The N x N matrix is not stored in HBM.",
        "No N x N tensor is materialised.",
        "FlashAttention is not memory-bound anymore.",
        "It's faster not because it reduces the FLOPs but because it avoids HBM traffic.",
        "It is not faster because of fewer FLOPs.",
        "It isn't sparse attention or a low-rank approximation.",
        "Unlike sparse or low-rank methods such as Linformer, FlashAttention is exact.",
        "It neither reduces the FLOPs nor approximates the softmax.",
        "It does not reduce the KV cache; it reduces HBM traffic during attention.",
        "FlashAttention-3 can also run attention in FP8 on Hopper.",
        "The FLOPs are still quadratic in N, but memory is linear.",
        "The backward pass doesn't store the attention matrix; it recomputes it.",
        "It does not speed up decode much, because decode reads the KV cache.",
        "Standard softmax needs the full row, so naive tiling would not work.",
    ],
)
def test_flash_attention_denials_are_not_contradictions(sentence: str) -> None:
    """A right answer says what FlashAttention does not do (write the scores to HBM, approximate,
    cut FLOPs, compress the KV cache): none of that may read as denying the mechanism."""
    assert_not_contradicting("flash-attention-why", sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "At batch 1 the GPU isn't compute-bound.",
        "A bigger batch does not make each request faster.",
        "It's a myth that bigger batches lower latency.",
        "A smaller batch lowers latency but costs more per token.",
        "Cost per token does not keep falling forever.",
        "The weights are not read once per sequence but once per step.",
        "The KV cache is not shared across sequences: each has its own.",
        "Step time doesn't grow much with the batch while decode is memory-bound.",
        "Beyond the ridge point the GPU is no longer memory-bound.",
        "It is not the price per hour that changes; it is the tokens per hour.",
        "The price per hour doesn't change, but the tokens per hour do.",
        "The KV cache no longer fits in HBM beyond a few dozen long sequences.",
    ],
)
def test_batching_cost_denials_are_not_contradictions(sentence: str) -> None:
    """True sentences about another regime (batch 1 against the ridge point) or that deny a
    misconception must not contradict a point."""
    assert_not_contradicting("batching-cost-per-token", sentence)
