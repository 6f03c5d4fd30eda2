"""A closed-loop HTTP load generator for the serve-and-profile server.

``run_load(base_url, requests=200, concurrency=4)`` keeps ``concurrency`` clients busy, each
sending its next request as soon as the previous one is answered, and returns one
``Sample`` per request: the client-side latency and the server's ``Server-Timing`` entries.

    python loadgen.py http://127.0.0.1:PORT --requests 200 --concurrency 4
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

WORDS = [
    "latency",
    "throughput",
    "batch",
    "queue",
    "kernel",
    "cache",
    "token",
    "model",
    "tensor",
    "profile",
    "server",
    "request",
    "memory",
    "bandwidth",
    "compute",
    "decode",
    "prefill",
]


@dataclass
class Sample:
    latency_s: float
    status: int
    server_timing_ms: dict[str, float] = field(default_factory=dict)


def make_text(rng: random.Random, words: int = 120) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def run_load(
    base_url: str, *, requests: int = 200, concurrency: int = 4, seed: int = 0
) -> list[Sample]:
    """Send ``requests`` POST /predict requests from ``concurrency`` closed-loop clients."""
    target = urlsplit(base_url)
    samples: list[Sample] = []
    lock = threading.Lock()
    remaining = [requests]

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                body = json.dumps({"text": make_text(rng)})
                start = time.perf_counter()
                connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                latency = time.perf_counter() - start
                sample = Sample(latency, response.status, parse_server_timing(response))
                with lock:
                    samples.append(sample)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def parse_server_timing(response: http.client.HTTPResponse) -> dict[str, float]:
    """``Server-Timing: queue;dur=1.2, app;dur=30.5`` -> {"queue": 1.2, "app": 30.5}."""
    timings = {}
    for entry in (response.getheader("Server-Timing") or "").split(","):
        name, _, params = entry.strip().partition(";")
        if params.startswith("dur="):
            timings[name] = float(params[4:])
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description="Load-test the serve-and-profile server.")
    parser.add_argument("url", help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=200, help="requests to send")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients")
    args = parser.parse_args()
    samples = run_load(args.url, requests=args.requests, concurrency=args.concurrency)
    latencies = sorted(s.latency_s * 1e3 for s in samples)
    print(
        f"{len(samples)} requests, p50 {statistics.median(latencies):.1f} ms, "
        f"p99 {latencies[int(0.99 * (len(latencies) - 1))]:.1f} ms"
    )


if __name__ == "__main__":
    main()
