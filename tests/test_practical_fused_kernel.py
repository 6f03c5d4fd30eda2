"""fused-kernel: the baseline op, the correctness cases, the build cache, and (slow) the
reference, starter and controls through the real runner (the reference compiles C++ once)."""

from __future__ import annotations

import pytest
import torch

from quiz.config import data_dir, practicals_dir
from tests.lab_fixtures import failed_names, grade_shipped, practical_module, support_module

PRACTICAL = "fused-kernel"
FOLDER = practicals_dir() / PRACTICAL


rmsnorm_ops = support_module(PRACTICAL, "rmsnorm_ops")
extensions_dir = support_module(PRACTICAL, "kernel_build").extensions_dir


def test_eager_composition_is_rms_norm_in_float32_math() -> None:
    x = torch.randn(4, 33, dtype=torch.float64)
    w = torch.randn(33, dtype=torch.float64)
    want = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * w
    got = rmsnorm_ops.eager_rms_norm(x.float(), w.float())
    torch.testing.assert_close(got, want.float(), rtol=1e-6, atol=1e-6)
    half = rmsnorm_ops.eager_rms_norm(x.bfloat16(), w.bfloat16())
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), want.float(), **rmsnorm_ops.tolerance(torch.bfloat16))
    framework = rmsnorm_ops.framework_rms_norm(x.float(), w.float())
    torch.testing.assert_close(framework, want.float(), rtol=1e-5, atol=1e-5)


def test_builds_are_cached_under_the_user_data_dir() -> None:
    assert extensions_dir().parent == data_dir()
    assert extensions_dir().is_dir()


def test_cases_cover_odd_shapes_strides_and_edge_values() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    cases = grader._cases(torch.device("cpu"), torch.float32)
    assert len(cases) == 10
    strided = 0
    for name, make in cases:
        x, w = make(torch.Generator().manual_seed(3))
        assert w.shape == (x.shape[-1],), name
        strided += not x.is_contiguous() or not w.is_contiguous()
        want = rmsnorm_ops.eager_rms_norm(x, w)
        assert torch.isfinite(want).all(), name  # a zero row stays finite thanks to eps
    assert strided == 4


def test_correctness_scoring_catches_a_wrong_kernel() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    cpu = torch.device("cpu")
    good, message = grader._correctness(rmsnorm_ops.eager_rms_norm, cpu, torch.float32, 1)
    assert (good, message) == (10, "")

    def contiguous_only(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
        flat = x.as_strided(x.shape, x.contiguous().stride())  # reads storage as if contiguous
        return rmsnorm_ops.eager_rms_norm(flat, w.contiguous(), eps)

    bad, message = grader._correctness(contiguous_only, cpu, torch.float32, 1)
    assert bad < 10 and "transposed" in message


# --- through the real runner --------------------------------------------------------------


@pytest.mark.slow
def test_reference_passes_cold_then_rebuilds_from_cache() -> None:
    cold = grade_shipped(PRACTICAL, FOLDER / "reference.py", "reference")
    assert cold.error is None, cold.error
    assert cold.passed, [c for c in cold.checks if not c.passed]
    assert cold.duration_s < 180
    warm = grade_shipped(PRACTICAL, FOLDER / "reference.py", "reference")
    assert warm.passed
    build = next(c for c in warm.checks if c.name.startswith("build time"))
    assert isinstance(build.measured, float) and build.measured < 10
    assert warm.details["bandwidth"]["fraction_of_copy"] > 0


@pytest.mark.slow
def test_starter_fails_on_speed() -> None:
    result = grade_shipped(PRACTICAL, FOLDER / "starter.py", "starter")
    assert result.error is None, result.error
    assert failed_names(result) == {"speed-up vs eager"}


CONTROL_FAILURES = {
    "cached_output": "correct on odd shapes and strided inputs",
    "framework_op": "speed-up vs eager",
    "ignores_strides": "correct on odd shapes and strided inputs",
}


def test_every_control_is_listed() -> None:
    assert {p.stem for p in (FOLDER / "controls").glob("*.py")} == set(CONTROL_FAILURES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONTROL_FAILURES))
def test_control_fails_for_its_reason(name: str) -> None:
    result = grade_shipped(PRACTICAL, FOLDER / "controls" / f"{name}.py", f"control:{name}")
    assert result.error is None, result.error
    assert not result.passed
    assert CONTROL_FAILURES[name] in failed_names(result)
