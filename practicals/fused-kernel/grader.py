"""Grades a fused RMSNorm: correct on odd shapes and strided inputs, built within the time
bound (and cached for re-grading), and at least 1.5x faster than the eager composition timed
interleaved in the same run. Reports the ratio against F.rms_norm and the achieved bandwidth
against this device's measured copy bandwidth."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch
from kernel_build import extensions_dir
from rmsnorm_ops import EPS, eager_rms_norm, framework_rms_norm, tolerance

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.harness import assert_close, speedup_check

Case = tuple[str, Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]]


def grade(ctx: GradeContext) -> list[Check]:
    device = ctx.device
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    os.environ["TORCH_EXTENSIONS_DIR"] = str(extensions_dir())
    ctx.log("building the kernel (compile time is measured, not timed against the baseline)")
    started = time.perf_counter()
    solution = ctx.load_submission()
    build = ctx.require(solution, "build")
    kernel = ctx.require(solution, "rms_norm")
    try:
        build()
    except Exception as err:
        raise SubmissionError(f"build() failed: {type(err).__name__}: {err}") from err
    build_s = time.perf_counter() - started
    ctx.verify_untampered()

    ctx.log("checking odd shapes and strided inputs")
    correct, failure = _correctness(kernel, device, dtype, ctx.seed)
    cases = len(_cases(device, dtype))
    checks = [
        Check(
            "correct on odd shapes and strided inputs",
            correct == cases,
            correct,
            cases,
            "cases",
            failure or f"matches the eager composition ({dtype}, {tolerance(dtype)})",
        ),
        Check(
            f"build time <= {ctx.thresholds['build_s_max']:g} s",
            build_s <= ctx.thresholds["build_s_max"],
            round(build_s, 2),
            ctx.thresholds["build_s_max"],
            "s",
            f"import + build(); builds are cached under {extensions_dir()}",
        ),
    ]
    if correct != cases:
        return [*checks, Check("speed-up vs eager", False, message="skipped: wrong results")]
    checks.append(_speed(ctx, kernel, device, dtype))
    return checks


def _cases(device: torch.device, dtype: torch.dtype) -> list[Case]:
    def make(shape: tuple[int, ...], scale: float = 1.0):
        def build(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.randn(shape, generator=gen) * scale
            w = torch.randn(shape[-1], generator=gen)
            return x.to(device, dtype), w.to(device, dtype)

        return build

    def transposed(gen: torch.Generator):
        x, w = make((129, 257))(gen)
        return x.t(), torch.randn(129, generator=gen).to(device, dtype)

    def every_other_column(gen: torch.Generator):
        x, _ = make((33, 2 * 515))(gen)
        return x[:, ::2], torch.randn(515, generator=gen).to(device, dtype)

    def sliced_rows(gen: torch.Generator):
        x, w = make((3, 11, 1024))(gen)
        return x[..., :1000], w[:1000]

    def strided_weight(gen: torch.Generator):
        x, _ = make((17, 300))(gen)
        return x, torch.randn(600, generator=gen).to(device, dtype)[::2]

    def zero_and_huge_rows(gen: torch.Generator):
        x, w = make((6, 777))(gen)
        x[1] = 0
        x[4] *= 1e4
        return x, w

    return [
        ("3x7x1023", make((3, 7, 1023))),
        ("1x4099", make((1, 4099))),
        ("257x129", make((257, 129))),
        ("5x1", make((5, 1))),
        ("0x64", make((0, 64))),
        ("transposed 257x129", transposed),
        ("every other column", every_other_column),
        ("sliced rows", sliced_rows),
        ("strided weight", strided_weight),
        ("a zero row and a 1e4-scaled row", zero_and_huge_rows),
    ]


def _correctness(
    kernel: Any, device: torch.device, dtype: torch.dtype, seed: int
) -> tuple[int, str]:
    passed, first_failure = 0, ""
    for i, (name, make_case) in enumerate(_cases(device, dtype)):
        gen = torch.Generator().manual_seed(seed + i)
        x, w = make_case(gen)
        want = eager_rms_norm(x, w, EPS)
        try:
            got = kernel(x, w, EPS)
            assert_close(got, want, **tolerance(dtype))
        except SubmissionError:
            raise
        except Exception as err:
            first_failure = first_failure or f"{name}: {type(err).__name__}: {err}"[:300]
            continue
        passed += 1
    return passed, first_failure


def _copy_pair(
    shape: tuple[int, int], dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """A source and an already-touched destination: the copy measures memory bandwidth, not
    page faults."""
    source = torch.ones(shape, dtype=dtype, device=device)
    return source, torch.zeros_like(source)


def _speed(ctx: GradeContext, kernel: Any, device: torch.device, dtype: torch.dtype) -> Check:
    shape = (2048, 4096) if device.type == "cpu" else (8192, 8192)

    def make_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator(device=device).manual_seed(seed)
        x = torch.randn(shape, generator=gen, device=device).to(dtype)
        w = torch.randn(shape[-1], generator=gen, device=device).to(dtype)
        return x, w

    def check(inputs: Any, base: torch.Tensor, cand: torch.Tensor) -> None:
        assert_close(cand, base, **tolerance(dtype))

    ctx.log(f"timing eager vs your kernel on {shape} {dtype}, interleaved")
    versus_eager = ctx.harness.compare(
        lambda xw: eager_rms_norm(xw[0], xw[1], EPS),
        lambda xw: kernel(xw[0], xw[1], EPS),
        make_inputs,
        check=check,
        label="fused kernel vs eager composition",
    )
    ctx.log("timing F.rms_norm vs your kernel (report)")
    versus_framework = ctx.harness.compare(
        lambda xw: framework_rms_norm(xw[0], xw[1], EPS),
        lambda xw: kernel(xw[0], xw[1], EPS),
        make_inputs,
        check=check,
        label="fused kernel vs F.rms_norm",
    )
    ctx.log("measuring this device's copy bandwidth")
    copy = ctx.harness.time(
        lambda pair: pair[1].copy_(pair[0]), lambda seed: _copy_pair(shape, dtype, device)
    )
    element = torch.empty((), dtype=dtype).element_size()
    moved = 2 * shape[0] * shape[1] * element + shape[1] * element  # read x and w, write y
    achieved = moved / versus_eager.candidate.median_s
    copy_bw = 2 * shape[0] * shape[1] * element / copy.median_s
    ctx.details["kernel"] = {
        "shape": list(shape),
        "dtype": str(dtype),
        "vs_eager": versus_eager.to_dict(),
        "vs_framework_rms_norm": versus_framework.to_dict(),
    }
    ctx.details["bandwidth"] = {
        "achieved_gb_s": round(achieved / 1e9, 2),
        "copy_gb_s": round(copy_bw / 1e9, 2),
        "fraction_of_copy": round(achieved / copy_bw, 3),
    }
    result = speedup_check("speed-up vs eager", versus_eager, ctx.thresholds["speedup_min"])
    result.message += (
        f"; vs F.rms_norm {versus_framework.speedup:.2f}x; {achieved / 1e9:.1f} GB/s achieved, "
        f"{achieved / copy_bw:.0%} of this device's copy bandwidth ({copy_bw / 1e9:.1f} GB/s)"
    )
    return result
