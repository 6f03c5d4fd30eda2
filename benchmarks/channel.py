"""The lab's channel on this machine: what a call through it costs, and whether a known 2x
workload still measures 2x when both sides are timed through it from the referee.

Starts real sandboxed contestants (the level `latency-quiz doctor` reports) on a throwaway
practical folder, then prints
- the echo round trip (request there, the same bytes back) for payloads from 4 KiB to 16 MiB;
- a 32 MiB input there and a 32 MiB output back (fused-kernel's timed call, without the work),
  copied through the shared-memory arena inside the call, and staged before the call and read
  after it from a contestant that is stopped between calls (``frozen``);
- a known 2x workload (the very same 480 rounds of tanh(y @ x) on 160x160 fp32, done twice by
  the baseline and once by the candidate, one thread each, both pinned to the same core as in a
  grade) timed interleaved through the channel: the speed-up, its 95 % CI and the channel's
  share of a baseline call.
Usage: python benchmarks/channel.py [REPEATS]    (default 3 repeats of the 2x comparison)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from quiz.lab.device import cores_by_idleness, grading_threads
from quiz.lab.harness import Harness
from quiz.lab.referee import ContestantOptions, start_contestant
from quiz.lab.sandbox import sandbox_level

DRIVER = """
import torch


def serve(solution, init):
    return {"work": solution.work}
"""
WORK = """
import torch


def work(x, repeats={repeats}):
    for _ in range(repeats):
        y = x
        for _ in range(480):
            y = torch.tanh(y @ x)
    return y
"""
SIZES = (4 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20)


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    torch.set_num_threads(grading_threads())
    with tempfile.TemporaryDirectory(prefix="channel-bench-") as tmp:
        folder = Path(tmp) / "practical"
        folder.mkdir()
        (folder / "bench_driver.py").write_text(DRIVER)
        (folder / "baseline.py").write_text(WORK.format(repeats=2))
        (folder / "candidate.py").write_text(WORK.format(repeats=1))
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        options = ContestantOptions(
            practical_dir=folder,
            public_files=("bench_driver.py",),
            submission=folder / "candidate.py",
            scratch_root=scratch,
            hidden=(Path.home(),),
            threads=grading_threads(),
            cuda=False,
            memory_budget=4 << 30,
            cpu_seconds=3600,
            core_order=cores_by_idleness(),
        )
        print(f"sandbox: {sandbox_level().describe()}; {os.cpu_count()} cores")
        print(f"contestants pinned to core(s) {options.cores_for()}")
        candidate = start_contestant(options, "bench_driver:serve", role="candidate",
                                     solution=folder / "candidate.py")  # fmt: skip
        baseline = start_contestant(options, "bench_driver:serve", role="baseline",
                                    solution=folder / "baseline.py")  # fmt: skip
        try:
            echo_table(candidate)
            for _ in range(repeats):
                two_x(baseline, candidate)
        finally:
            candidate.close()
            baseline.close()
        large_tensors(options, folder)
    return 0


def large_tensors(options: ContestantOptions, folder: Path) -> None:
    print("\n32 MiB there and 32 MiB back, no work (median of 15):")
    x = torch.randn(2048, 4096)
    harness = Harness(torch.device("cpu"), seed=1)
    for frozen in (False, True):
        contestant = start_contestant(options, "bench_driver:serve", role="candidate",
                                      solution=folder / "candidate.py", arena_bytes=80 << 20,
                                      frozen=frozen)  # fmt: skip
        try:
            seconds = harness.channel_overhead(contestant, "__echo__", lambda _seed: x, trials=15)
        finally:
            contestant.close()
        how = "staged and read while stopped" if frozen else "copied through the arena"
        print(f"  {how:>30}: {seconds * 1e3:7.3f} ms")


def echo_table(contestant: object) -> None:
    print("\necho round trip (there and back), median of 15:")
    for size in SIZES:
        payload = torch.ones(size // 4)
        contestant.call("__echo__", payload)  # type: ignore[attr-defined]
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            contestant.call("__echo__", payload)  # type: ignore[attr-defined]
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        rate = 2 * size / median / 2**30
        print(f"  {size / 2**10:>8.0f} KiB  {median * 1e3:8.3f} ms  ({rate:.2f} GiB/s)")


def two_x(baseline: object, candidate: object) -> None:
    harness = Harness(torch.device("cpu"), seed=int.from_bytes(os.urandom(8), "little"))

    def inputs(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed % 2**63)
        return torch.randn(160, 160, generator=gen) / 16

    comparison = harness.compare(
        baseline.remote("work"),  # type: ignore[attr-defined]
        candidate.remote("work"),  # type: ignore[attr-defined]
        inputs,
        label="known 2x",
        max_time_s=8,
        wall_clock=True,
    )
    overhead = harness.channel_overhead(baseline, "work", inputs)
    comparison = comparison.with_overhead(overhead)
    share = comparison.channel_overhead_share or 0.0
    error = abs(comparison.speedup - 2) / 2
    print(
        f"\nknown 2x through the channel: {comparison.speedup:.3f}x "
        f"(95% CI {comparison.ci_low:.3f}-{comparison.ci_high:.3f}, {comparison.trials} trials, "
        f"{error:.1%} from 2.0); baseline call {comparison.baseline.median_s * 1e3:.2f} ms, "
        f"channel {overhead * 1e3:.3f} ms = {share:.2%} of it"
    )


if __name__ == "__main__":
    sys.exit(main())
