"""The pure half of the gpu-roofline practical (no torch): the published spec of a GPU looked up
by its NVML / torch device name in the facts file, the ops to classify with their FLOPs and
bytes, the ridge point, and the checks built from the submission's and the grader's numbers.
Unit-tested on a CPU; the grader adds the measurements on a GPU."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from quiz.config import facts_path
from quiz.lab.api import Check

BF16 = 2  # bytes per element

# NVML / torch device names -> facts-file keys. Order matters: the first pattern that matches.
_NAME_PATTERNS = (
    (r"H200", "H200_SXM"),
    (r"H100.*PCIe", "H100_PCIe"),
    (r"H100.*NVL", None),  # a different SKU (94 GB, ~3.9 TB/s) absent from the facts table
    (r"H100", "H100_SXM"),
    (r"A100.*PCIe", None),  # 1.935 TB/s, not a row of the facts table
    (r"A100.*80\s*GB", "A100_80GB_SXM"),
    (r"A100", "A100_40GB_SXM"),
    (r"L40S", "L40S"),
    (r"\bL4\b", "L4"),
    (r"MI300X", "MI300X"),
)


@dataclass(frozen=True)
class GpuSpec:
    key: str
    bandwidth: float  # B/s
    bf16_flops: float  # FLOP/s, dense

    @property
    def ridge(self) -> float:
        return ridge_point(self.bf16_flops, self.bandwidth)


@dataclass(frozen=True)
class Op:
    name: str
    shape: str  # what the README shows
    flops: float
    bytes: float

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes


def spec_key(device_name: str) -> str | None:
    """The facts-table key for a device name such as 'NVIDIA H100 80GB HBM3', or None."""
    for pattern, key in _NAME_PATTERNS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return key
    return None


def published_spec(device_name: str) -> GpuSpec | None:
    key = spec_key(device_name)
    if key is None:
        return None
    with facts_path().open(encoding="utf-8") as handle:
        table = yaml.safe_load(handle)["gpus"]
    row = table[key]
    return GpuSpec(key, float(row["memory_bw_tbs"]) * 1e12, float(row["bf16_tflops_dense"]) * 1e12)


def ridge_point(flops_per_s: float, bytes_per_s: float) -> float:
    """FLOP per byte at which an op stops being memory-bound (Williams et al., 2009)."""
    return flops_per_s / bytes_per_s


def classify(intensity: float, ridge: float) -> str:
    return "compute" if intensity >= ridge else "memory"


def _gemm(name: str, m: int, k: int, n: int) -> Op:
    shape = f"[{m}, {k}] x [{k}, {n}] bf16 matmul"
    return Op(name, shape, 2.0 * m * k * n, BF16 * (m * k + k * n + m * n))


# Intensities far from every ridge point in the facts table (150-420 FLOP/B), so the class is
# unambiguous on any supported GPU.
OPS = (
    _gemm("decode-gemv", 1, 8192, 8192),
    _gemm("decode-batch-64", 64, 8192, 8192),
    _gemm("prefill-gemm", 4096, 8192, 8192),
    _gemm("mlp-batch-1024", 1024, 8192, 28672),
    Op("rmsnorm", "RMSNorm over [4096, 8192] bf16", 4.0 * 4096 * 8192, 2 * BF16 * 4096 * 8192),
    Op(
        "softmax", "softmax over [131072, 4096] bf16", 5.0 * 131072 * 4096, 2 * BF16 * 131072 * 4096
    ),
    Op(
        "decode-attention",
        "decode attention, 64 query heads over 4096 cached tokens of 8 KV heads x 128, bf16",
        4.0 * 64 * 128 * 4096,
        BF16 * (2 * 8 * 128 * 4096 + 2 * 64 * 128),
    ),
)

RESULT_KEYS = ("copy_bandwidth", "matmul_flops", "ridge_point", "classes")


def validate(result: Any) -> dict[str, Any]:
    """The submission's result dict, or ValueError naming what is missing or malformed."""
    if not isinstance(result, dict):
        raise ValueError(f"measure() must return a dict, not {type(result).__name__}")
    missing = [k for k in RESULT_KEYS if k not in result]
    if missing:
        raise ValueError(f"measure() result lacks {', '.join(missing)}")
    for key in RESULT_KEYS[:3]:
        value = result[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{key} must be a positive number, got {value!r}")
    classes = result["classes"]
    if not isinstance(classes, dict):
        raise ValueError("classes must map op names to 'memory' or 'compute'")
    return result


@dataclass(frozen=True)
class Measured:
    """The grader's own measurement on this GPU."""

    copy_bandwidth: float
    matmul_flops: float


def build_checks(
    result: dict[str, Any], own: Measured, spec: GpuSpec | None, thresholds: dict[str, float]
) -> list[Check]:
    """Checks for a validated submission result against the grader's measurement and the
    published spec (when the facts table knows this GPU)."""
    agree = thresholds["agreement"]
    copy, flops = float(result["copy_bandwidth"]), float(result["matmul_flops"])
    checks = [
        _agreement("copy bandwidth matches the grader's", copy, own.copy_bandwidth, agree, "B/s"),
        _agreement("matmul throughput matches the grader's", flops, own.matmul_flops, agree,
                   "FLOP/s"),
    ]  # fmt: skip
    if spec is None:
        checks.append(
            Check(
                "copy bandwidth near the published spec",
                True,
                round(copy / 1e9, 1),
                None,
                "GB/s",
                "no published spec for this GPU in the facts table; graded against the "
                "grader's own measurement only",
            )
        )
    else:
        fraction = copy / spec.bandwidth
        checks.append(
            Check(
                "copy bandwidth near the published spec",
                fraction >= thresholds["copy_spec_fraction_min"],
                round(fraction, 3),
                thresholds["copy_spec_fraction_min"],
                "of spec",
                f"{copy / 1e12:.2f} TB/s measured; {spec.key} spec {spec.bandwidth / 1e12:.2f} "
                f"TB/s; spec ridge {spec.ridge:.0f} FLOP/B",
            )
        )
    own_ridge = ridge_point(own.matmul_flops, own.copy_bandwidth)
    ridge = float(result["ridge_point"])
    consistent = abs(ridge - flops / copy) <= 0.05 * flops / copy
    checks.append(
        Check(
            "ridge point",
            consistent and abs(ridge - own_ridge) <= agree * own_ridge,
            round(ridge, 1),
            round(own_ridge, 1),
            "FLOP/B",
            "must equal your matmul FLOP/s over your copy B/s and match the grader's measured "
            f"ridge within {agree:.0%}",
        )
    )
    wrong = [
        f"{op.name} (intensity {op.intensity:.0f} FLOP/B is "
        f"{classify(op.intensity, own_ridge)}-bound)"
        for op in OPS
        if result["classes"].get(op.name) != classify(op.intensity, own_ridge)
    ]
    checks.append(
        Check(
            "ops classified",
            not wrong,
            len(OPS) - len(wrong),
            len(OPS),
            "ops",
            "wrong or missing: " + "; ".join(wrong) if wrong else "every op on the right side",
        )
    )
    return checks


def _agreement(name: str, value: float, own: float, tolerance: float, unit: str) -> Check:
    ratio = value / own
    return Check(
        name,
        abs(ratio - 1) <= tolerance,
        round(ratio, 3),
        f"1 ± {tolerance:g}",
        "x grader",
        f"yours {value:.4g} {unit}, the grader's {own:.4g} {unit}",
    )


def serve(solution: Any, init: Any) -> dict[str, Any]:
    """The contestant's endpoint (runs in the sandboxed contestant process): ``measure()`` runs
    your ``measure(device)`` on this GPU and returns its dict."""
    import torch

    measure = getattr(solution, "measure", None)
    if not callable(measure):
        raise AttributeError("solution.py must define measure(device)")
    device = torch.device("cuda")
    return {"measure": lambda: measure(device)}
