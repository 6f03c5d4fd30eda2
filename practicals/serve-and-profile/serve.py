"""Run your variant of the serve-and-profile server and explore it.

    python serve.py                 # start the server, print its URL, serve until Ctrl-C
    python serve.py --load 200      # start it, run the load generator, print a summary
    python serve.py --check         # start it and run solution.py's diagnose() against it
    python serve.py --seed 7 --check --reveal   # another variant; then its bottleneck

Your variant's hidden bottleneck comes from the seed in .practical.json, or from --seed (the
grader draws two new servers with different bottlenecks each time it grades, so your
diagnose() must measure, not remember). --reveal names the bottleneck afterwards and, with
--load, gives the server's own p50 shares of those requests: try diagnose() on several seeds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from quiz.config import practicals_dir
from quiz.lab.device import grading_threads

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(practicals_dir() / "serve-and-profile"))

from inference_server import InferenceServer, p50_shares  # noqa: E402
from loadgen import run_load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", type=int, metavar="N", help="send N requests and summarise")
    parser.add_argument("--concurrency", type=int, default=4, help="load generator clients")
    parser.add_argument("--check", action="store_true", help="run solution.diagnose()")
    parser.add_argument("--seed", type=int, help="another variant (default: .practical.json's)")
    parser.add_argument("--reveal", action="store_true", help="then name the bottleneck")
    args = parser.parse_args()

    torch.set_num_threads(grading_threads())
    seed = args.seed
    if seed is None:
        seed = json.loads((HERE / ".practical.json").read_text())["seed"]
    with InferenceServer(seed) as server:
        print(f"serving at {server.url}")
        if args.load:
            samples = run_load(server.url, requests=args.load, concurrency=args.concurrency)
            latencies = [s.latency_s * 1e3 for s in samples]
            queue = [s.server_timing_ms["queue"] for s in samples]
            app = [s.server_timing_ms["app"] for s in samples]
            print(
                f"client p50 {statistics.median(latencies):.1f} ms; Server-Timing p50: "
                f"queue {statistics.median(queue):.1f} ms, app {statistics.median(app):.1f} ms"
            )
            if args.reveal:
                shares = p50_shares(server.request_log()[-len(samples) :])
                ranked = sorted(shares.items(), key=lambda item: -item[1])
                print("the server's p50 shares:", ", ".join(f"{c} {v:.1f}%" for c, v in ranked))
        elif args.check:
            spec = importlib.util.spec_from_file_location("solution", HERE / "solution.py")
            assert spec is not None and spec.loader is not None
            solution = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(solution)
            print("diagnose ->", solution.diagnose(server.url))
        if args.reveal:
            print(f"variant {seed}: the hidden bottleneck is {server.bottleneck}")
        if not (args.load or args.check):
            print("Ctrl-C to stop")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()
