"""tensor-parallel: the grader's verdicts from what it measures (logits, bytes held, the
collectives the referee relayed), and real grades: the reference passes; the starter and every
control fail on the check they break; a rank's error names the rank and the line."""

from __future__ import annotations

import textwrap
import types
from pathlib import Path

import pytest
import torch

from quiz.lab.catalog import get_practical
from quiz.lab.runner import grade_practical
from tests.lab_fixtures import (
    failed_checks,
    failed_names,
    practical_module,
    shipped_files,
    support_module,
)

PRACTICAL = "tensor-parallel"
FILES = shipped_files(PRACTICAL)
MB = 1_000_000
HOLD = "each rank holds 1/2 of the weights"
COMMUNICATION = "collectives per forward pass"
LOGITS = "logits equal the unsplit model"
SPEED = "latency vs Megatron's split at world size 2"
OVER_ONE = "speed-up at world size 2 vs 1 rank"
# What each failing file must fail on (it may fail more).
MUST_FAIL = {
    "starter": HOLD,
    "control:all_gather_weights": HOLD,
    "control:all_reduce_per_linear": COMMUNICATION,
    "control:wrong_split": LOGITS,
    "control:cheat_rank0_does_all": HOLD,
    "control:more_collectives_when_timed": COMMUNICATION,
}


@pytest.fixture(scope="module")
def grader() -> types.ModuleType:
    return practical_module(PRACTICAL, "grader.py")


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert {f"control:{c.stem}" for c in practical.controls} == set(MUST_FAIL) - {"starter"}
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def test_sharded_and_replicated_bytes_match_the_model() -> None:
    tp_model = support_module(PRACTICAL, "tp_model")
    model = tp_model.build_model(0)
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    assert tp_model.sharded_bytes() + tp_model.replicated_bytes() == total
    assert tp_model.sharded_bytes() / total > 0.98  # what tensor parallelism splits dominates


def test_logits_must_match_to_fp32_rounding(grader: types.ModuleType) -> None:
    expected = torch.randn(1, 8, 256) * 5
    assert grader.logits_mismatch(expected, expected + 1e-6) == ""
    assert "differ" in grader.logits_mismatch(expected, expected.half().float())
    assert "(8, 256)" in grader.logits_mismatch(expected, expected[0])
    assert "NoneType" in grader.logits_mismatch(expected, None)
    assert "differ" in grader.logits_mismatch(expected, expected * float("nan"))


def test_hold_check_allows_a_half_and_refuses_the_whole(grader: types.ModuleType) -> None:
    tp_model = support_module(PRACTICAL, "tp_model")
    half = tp_model.replicated_bytes() + tp_model.sharded_bytes() // 2
    whole = tp_model.replicated_bytes() + tp_model.sharded_bytes()
    assert grader.hold_check([half + 10 * MB, half], [half]).passed
    refused = grader.hold_check([whole, 0], [])
    assert not refused.passed
    assert "361 MB" in refused.message and "slice" in refused.message
    assert "100% of the split weights" in refused.message
    gathered_in_forward = grader.hold_check([half, half], [half + whole // 4, half])
    assert not gathered_in_forward.passed
    assert "peak" in gathered_in_forward.message


def test_communication_check_counts_calls_and_bytes(grader: types.ModuleType) -> None:
    one = grader.activation_bytes()
    assert one == 1 * 64 * 2048 * 4  # the [1, 64, 2048] fp32 activation
    megatron = {"all_reduce": 4.0}
    assert grader.communication_check(megatron, 4 * 2 * one).passed
    assert grader.communication_check({}, 0).passed  # no traffic is not a communication problem
    too_many = grader.communication_check({"all_reduce": 14.0}, 14 * 2 * one)
    assert not too_many.passed
    assert too_many.measured == 14.0 and too_many.threshold == 4
    assert "all_reduce 14" in too_many.message
    assert "o_proj" not in too_many.message and "down" not in too_many.message
    weights = grader.communication_check({"all_gather": 2.0}, 50 * one)
    assert not weights.passed and "not weights" in weights.message


def test_doctor_reports_the_distributed_backends_and_whether_the_ranks_group_starts() -> None:
    from quiz.cli.doctor import distributed_report

    report = distributed_report()
    assert "gloo" in report["backends"]
    assert report["group"] == "starts", report


@pytest.mark.slow
def test_a_rank_error_names_the_rank_and_the_submission_line(tmp_path: Path) -> None:
    solution = tmp_path / "solution.py"
    solution.write_text(
        textwrap.dedent(
            """\
            def shard_model(model, rank, world_size):
                if rank == 1:
                    raise ValueError('no shard for rank 1')
                return model
            """
        ),
        encoding="utf-8",
    )
    result = grade_practical(PRACTICAL, solution, source="path")
    assert not result.passed and result.error is None
    message = result.checks[0].message
    assert "rank 1" in message and "line 3" in message and "no shard for rank 1" in message


@pytest.mark.slow
def test_reference_passes() -> None:
    result = grade_practical(PRACTICAL, FILES["reference"], source="reference")
    assert result.error is None, failed_checks(result)
    assert result.duration_s < 60
    # On a busy machine a speed check may be inconclusive (never a pass); everything else,
    # measured without a clock, must pass.
    speed = {SPEED, OVER_ONE}
    inconclusive = {c.name for c in result.checks if c.inconclusive}
    assert result.passed or (inconclusive and inconclusive <= speed), failed_checks(result)
    assert failed_names(result) <= inconclusive
    # The speed-up over one rank is graded exactly when Megatron's own split showed that this
    # machine can give it in the same run.
    machine = result.details["megatron_vs_one_rank"]
    graded = {c.name for c in result.checks}
    assert (OVER_ONE in graded) == (machine["ci_low"] >= 1.2), machine


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUST_FAIL))
def test_starter_and_controls_fail_on_what_they_break(name: str) -> None:
    log: list[str] = []
    result = grade_practical(PRACTICAL, FILES[name], source=name, on_log=log.append)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
    assert MUST_FAIL[name] in failed_names(result), failed_checks(result)
    # Only a split whose untimed passes are right is timed; the others end sooner, their speed
    # check not passed and not measured.
    speed = next(c for c in result.checks if c.name == SPEED)
    timed = name == "control:more_collectives_when_timed"
    assert (speed.measured is not None) == timed, failed_checks(result)
    assert speed.message.startswith("not timed") != timed, speed.message
    # Nor is Megatron's split (two more ranks) started for a grade that is not timed.
    assert any("starting Megatron's split" in line for line in log) == timed, log
