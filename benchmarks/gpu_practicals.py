"""End-to-end run of the practicals with a GPU path (gpu-roofline, cuda-graphs, and fused-kernel's
Triton kernel) on this machine's GPU.

For each: the reference graded REPEATS times (grade time, each check's measured value, the
verdict spread), the starter and every negative control once (each must fail). It also checks
the issue's bar that the gpu-roofline reference reaches at least 85 % of the published copy
bandwidth. Without a usable CUDA GPU it prints why and exits 0, so it is safe anywhere.
Usage: python benchmarks/gpu_practicals.py [REPEATS]     (default 3)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

PRACTICALS = ("gpu-roofline", "cuda-graphs", "fused-kernel")
REFERENCE_COPY_SPEC_MIN = 0.85


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    from quiz.lab.catalog import get_practical

    availability = get_practical(PRACTICALS[0]).availability
    if not availability.available:
        print(f"skipped: {availability.reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="gpu-practicals-") as home:
        os.environ["LATENCY_QUIZ_HOME"] = home  # keep the user's data dir untouched
        problems = []
        for practical_id in PRACTICALS:
            problems += run_practical(practical_id, repeats)
    print("\n" + ("all as expected" if not problems else "PROBLEMS:\n  " + "\n  ".join(problems)))
    return 1 if problems else 0


def run_practical(practical_id: str, repeats: int) -> list[str]:
    from quiz.lab.catalog import get_practical
    from quiz.lab.runner import grade_practical

    practical = get_practical(practical_id)
    problems = []
    print(f"\n== {practical_id}")
    verdicts = []
    for i in range(repeats):
        started = time.perf_counter()
        result = grade_practical(practical_id, practical.file("reference.py"), source="reference")
        elapsed = time.perf_counter() - started
        verdicts.append(result.passed)
        print(f"reference #{i + 1}: {'PASS' if result.passed else 'FAIL'} in {elapsed:.1f} s"
              + (f"  error: {result.error}" if result.error else ""))  # fmt: skip
        for check in result.checks:
            mark = "ok " if check.passed else "BAD"
            print(f"   {mark} {check.name}: {check.measured} (threshold {check.threshold}) "
                  f"{check.message[:160]}")  # fmt: skip
        if practical_id == "gpu-roofline":
            problems += _copy_bar(result)
    if not all(verdicts):
        problems.append(f"{practical_id}: reference failed in {verdicts.count(False)}/{repeats}")
    for label, path in [("starter", practical.file("starter.py")),
                        *[(f"control:{c.stem}", c) for c in practical.controls]]:  # fmt: skip
        result = grade_practical(practical_id, Path(path), source=label)
        failed = [c.name for c in result.checks if not c.passed]
        print(f"{label}: {'PASS' if result.passed else 'fail'} ({result.error or failed})")
        if result.passed:
            problems.append(f"{practical_id}: {label} passed but must fail")
    return problems


def _copy_bar(result) -> list[str]:
    check = next((c for c in result.checks if c.name == "copy bandwidth near the published spec"),
                 None)  # fmt: skip
    if check is None or not isinstance(check.measured, float):
        return []  # unknown GPU: no spec to hold the reference to
    if check.measured < REFERENCE_COPY_SPEC_MIN:
        return [f"gpu-roofline: reference copy bandwidth {check.measured:.0%} of spec < 85 %"]
    return []


if __name__ == "__main__":
    sys.exit(main())
