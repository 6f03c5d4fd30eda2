"""int8-ptq: the reference (and torch's own per-channel dynamic quantization) passes; the
starter and every control fail; graded through the real runner and worker. The fast tests check
the model punishes per-tensor scales and rewards per-channel ones."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from quiz.lab.catalog import get_practical
from quiz.lab.runner import grade_practical
from quiz.lab.tinylm import tensor_bytes
from tests.lab_fixtures import failed_checks, practical_module, shipped_files

PRACTICAL = "int8-ptq"
FILES = shipped_files(PRACTICAL)


def _int8_gemm_slowdown() -> float:
    """How many times slower torch's int8 GEMM is than fp32 on this CPU (one thread)."""
    import time

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.randint(-127, 127, (64, 256), dtype=torch.int8)
        b = torch.randint(-127, 127, (256, 512), dtype=torch.int8)
        af, bf = a.float(), b.float()
        times = []
        for run in (lambda: torch._int_mm(a, b), lambda: af @ bf):
            run()
            start = time.perf_counter()
            for _ in range(5):
                run()
            times.append(time.perf_counter() - start)
        return times[0] / times[1]
    finally:
        torch.set_num_threads(threads)


# The 2x milestone needs an int8 GEMM faster than fp32. On a CPU without AVX-512 (VNNI) torch
# has none: torch._int_mm fell back to a loop 48x slower than fp32 matmul on an AVX2-only EPYC
# (2026-12-02; the reference measured 0.05x there), and fbgemm's dynamic int8 linear reached
# 1.83-1.89x. Elsewhere these grades must pass; there they are expected to fail, and say so.
INT8_GEMM_SLOWDOWN = _int8_gemm_slowdown()
needs_fast_int8 = pytest.mark.xfail(
    INT8_GEMM_SLOWDOWN > 1.0,
    reason=f"torch's int8 GEMM is {INT8_GEMM_SLOWDOWN:.0f}x slower than fp32 on this CPU",
    strict=False,
)
FAILING = [name for name in FILES if name != "reference"]

TORCH_DYNAMIC_PER_CHANNEL = """
import torch
from torch import nn


def quantize(model):
    return torch.ao.quantization.quantize_dynamic(
        model, {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8
    )
"""


def accuracy(quantize_file: str) -> tuple[float, float, float]:
    """(bytes ratio, top-1 agreement, logits relative error) on one held-out batch."""
    model_module = practical_module(PRACTICAL, "int8_model.py")
    fp32 = model_module.build_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = practical_module(PRACTICAL, quantize_file).quantize(model_module.build_model())
    tokens = model_module.token_batch(3, (4, 64))
    with torch.inference_mode():
        expected, actual = fp32(tokens), quantized(tokens)
    agree = (actual.argmax(-1) == expected.argmax(-1)).float().mean().item()
    error = ((actual - expected).norm() / expected.norm()).item()
    return tensor_bytes(quantized) / tensor_bytes(fp32), agree, error


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def test_per_channel_int8_keeps_the_predictions() -> None:
    ratio, agree, error = accuracy("reference.py")
    assert ratio <= 0.30
    assert agree >= 0.97
    assert error <= 0.025


def test_per_tensor_scales_lose_accuracy() -> None:
    ratio, agree, error = accuracy("controls/per_tensor.py")
    assert ratio <= 0.30
    assert error > 0.08  # the 5 % threshold fails by a wide margin


@pytest.mark.slow
@needs_fast_int8
def test_reference_passes() -> None:
    result = grade_practical(PRACTICAL, FILES["reference"], source="reference")
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60


@pytest.mark.slow
@needs_fast_int8
def test_torch_dynamic_per_channel_quantization_passes(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(TORCH_DYNAMIC_PER_CHANNEL, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert result.passed, failed_checks(result)


@pytest.mark.slow
@pytest.mark.parametrize("name", FAILING)
def test_starter_and_controls_fail(name: str) -> None:
    result = grade_practical(PRACTICAL, FILES[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
