"""Grade the tensor-parallel reference several times and print its figures.

    flock /tmp/lab.lock python benchmarks/tensor_parallel.py        # 5 grades
    flock /tmp/lab.lock python benchmarks/tensor_parallel.py -n 3

Per grade, from the grade's own details: the speed-up at world size 2 over the unsplit model on
one rank (median and 95 % CI, timed by the referee), what Megatron's split got over one rank in
the same trials, the speed against the grader's own Megatron split (the check; 1.0 for the
reference graded against itself), the time beyond a
perfect split (t2 / (t1 / 2) - 1, from the same timings), the share of a forward pass each rank
waited in collectives and the collectives per forward with the bytes they carried (both from the
referee's relay, which carries every collective), and what each rank holds beyond a bare rank
(from /proc). Exit status 1 if a grade failed or could not run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

from quiz.errors import QuizError
from quiz.lab.catalog import get_practical
from quiz.lab.runner import LabResult, grade_practical

PRACTICAL = "tensor-parallel"


def figures(result: LabResult) -> dict[str, Any]:
    """The figures of one grade, from its details (None where the grade stopped early)."""
    details = result.details
    speedup = details.get("speedup") or {}
    memory = details.get("memory_mb") or {}
    communication = details.get("communication") or {}
    return {
        "passed": result.passed,
        "inconclusive": result.inconclusive,
        "grade_s": result.duration_s,
        "speedup": speedup.get("speedup"),
        "ci": (speedup.get("ci_low"), speedup.get("ci_high")),
        "t1_ms": _ms(speedup.get("baseline")),
        "t2_ms": _ms(speedup.get("candidate")),
        "beyond_perfect_split": details.get("overhead_beyond_perfect_split"),
        "vs_megatron": (details.get("vs_megatron") or {}).get("speedup"),
        "megatron_speedup": (details.get("megatron_vs_one_rank") or {}).get("speedup"),
        "collective_share": details.get("collectives_share_per_rank"),
        "calls_per_forward": communication.get("calls_per_forward"),
        "comm_mb_per_forward": _mb(communication.get("bytes_sent_per_forward")),
        "held_mb": memory.get("held_per_rank"),
        "peak_mb": memory.get("peak_per_rank"),
    }


def line(number: int, f: dict[str, Any]) -> str:
    verdict = "pass" if f["passed"] else "inconclusive" if f["inconclusive"] else "FAIL"
    parts = [f"#{number} {verdict} in {f['grade_s']:.1f} s"]
    if f["speedup"] is not None:
        low, high = f["ci"]
        parts.append(
            f"speed-up {f['speedup']:.2f}x [{low:.2f}, {high:.2f}] "
            f"(t1 {f['t1_ms']:.0f} ms, t2 {f['t2_ms']:.0f} ms)"
        )
        parts.append(f"beyond a perfect split {f['beyond_perfect_split']:+.0%}")
    if f["megatron_speedup"] is not None:
        parts.append(
            f"Megatron's split {f['megatron_speedup']:.2f}x over 1 rank in the same trials"
        )
    if f["vs_megatron"] is not None:
        parts.append(f"{f['vs_megatron']:.2f}x as fast as Megatron's split")
    if f["collective_share"]:
        shares = "/".join(f"{s:.0%}" for s in f["collective_share"])
        parts.append(f"ranks waited in collectives {shares} of a forward")
    if f["calls_per_forward"] is not None:
        calls = ", ".join(f"{op} {n:g}" for op, n in f["calls_per_forward"].items())
        parts.append(f"per forward: {calls or 'no collectives'}, {f['comm_mb_per_forward']:.2f} MB")
    if f["held_mb"]:
        parts.append(f"held per rank {_ranks(f['held_mb'])} MB, peak {_ranks(f['peak_mb'])} MB")
    return "; ".join(parts)


def summary(all_figures: list[dict[str, Any]]) -> str:
    passed = sum(f["passed"] for f in all_figures)
    lines = [f"{PRACTICAL}: {passed}/{len(all_figures)} passed"]
    speedups = [f["speedup"] for f in all_figures if f["speedup"] is not None]
    if speedups:
        lines.append(
            f"  speed-up median {statistics.median(speedups):.2f}x "
            f"(range {min(speedups):.2f}-{max(speedups):.2f})"
        )
    times = [f["grade_s"] for f in all_figures]
    lines.append(f"  grade time median {statistics.median(times):.1f} s (max {max(times):.1f})")
    return "\n".join(lines)


def _ms(timing: Any) -> float | None:
    return timing["median_s"] * 1e3 if isinstance(timing, dict) else None


def _mb(value: Any) -> float | None:
    return value / 1e6 if isinstance(value, (int, float)) else None


def _ranks(values: list[float] | None) -> str:
    return ", ".join(f"{v:.0f}" for v in (values or [])[:2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--repeats", type=int, default=5, help="grades to run")
    args = parser.parse_args()
    reference = get_practical(PRACTICAL).file("reference.py")
    all_figures = []
    for number in range(1, args.repeats + 1):
        try:
            result = grade_practical(PRACTICAL, reference, source="reference")
        except QuizError as err:
            print(f"#{number} lab error: {err}", file=sys.stderr)
            return 1
        all_figures.append(figures(result))
        print(line(number, all_figures[-1]), flush=True)
        if result.error:
            print(f"   error: {result.error}")
        for check in result.checks:
            if not check.passed:
                print(f"   {check.name}: {check.message}")
    print(summary(all_figures))
    return 0 if all(f["passed"] for f in all_figures) else 1


if __name__ == "__main__":
    sys.exit(main())
