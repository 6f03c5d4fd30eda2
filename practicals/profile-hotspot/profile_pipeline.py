"""Profile a sample variant of the profile-hotspot pipeline with torch.profiler.

    python profile_pipeline.py                     # profile one step, print the table
    python profile_pipeline.py --warmup 2 --steps 5
    python profile_pipeline.py --check             # also run solution.py's find_hotspot
    python profile_pipeline.py --seed 7 --check --reveal   # another variant, and its bug

The sample variant is the one chosen by the seed in .practical.json next to this script (or by
--seed); each grade draws two new ones with different bugs, so use this to explore, and to try
your find_hotspot on several variants (--reveal names the bug afterwards), not to find the
numbers to return. Uses the same torch thread count as the grader.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from quiz.config import practicals_dir
from quiz.lab.device import grading_threads

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(practicals_dir() / "profile-hotspot"))

from hotspot_pipeline import BOTTLENECKS, build_pipeline, draw_bug, make_batch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=0, help="steps to run before profiling")
    parser.add_argument("--steps", type=int, default=1, help="steps to profile")
    parser.add_argument("--rows", type=int, default=30, help="rows of the table to print")
    parser.add_argument("--check", action="store_true", help="run solution.find_hotspot too")
    parser.add_argument("--seed", type=int, help="another variant (default: .practical.json's)")
    parser.add_argument("--reveal", action="store_true", help="then name the variant's bug")
    args = parser.parse_args()

    torch.set_num_threads(grading_threads())
    seed = args.seed
    if seed is None:
        seed = json.loads((HERE / ".practical.json").read_text())["seed"]
    pipeline = build_pipeline(seed)
    batches = [make_batch(i) for i in range(max(8, args.warmup + args.steps))]
    for batch in batches[: args.warmup]:
        pipeline.step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[args.warmup : args.warmup + args.steps]:
            pipeline.step(batch)
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=args.rows))

    if args.check:
        spec = importlib.util.spec_from_file_location("solution", HERE / "solution.py")
        assert spec is not None and spec.loader is not None
        solution = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(solution)
        print("find_hotspot ->", solution.find_hotspot(build_pipeline(seed), batches))
    if args.reveal:
        bug, work = draw_bug(seed)
        print(f"variant {seed}: {bug} in {BOTTLENECKS[bug]} (work {work})")


if __name__ == "__main__":
    main()
