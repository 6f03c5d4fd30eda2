"""The grader's own load test (trusted code): the referee runs it in a contestant process of the
same kind as yours, reaching the server the same way yours does, so both see the server under
the same conditions. The truth comes from the server's own record of each request, which stays
in the grader's process."""

from __future__ import annotations

from loadgen import run_load


def load(base_url: str, requests: int, concurrency: int, seed: int) -> list[int]:
    """Send ``requests`` requests from ``concurrency`` closed-loop clients; their statuses."""
    samples = run_load(base_url, requests=requests, concurrency=concurrency, seed=seed)
    return [sample.status for sample in samples]
