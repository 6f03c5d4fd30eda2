"""The batch-sla service: a small model behind ``run_batch(batch_size)``.

A call runs one forward pass over a batch of requests and returns when the results are ready
(on a GPU it would synchronize; the grader runs it on the CPU). Like real services, it has a
slow path: every tenth call (a periodic flush) is retried once, three, seven or fifteen times,
so it takes 2, 4, 8 or 16 times as long; which is drawn for each batch size and each grade,
so the tail has to be measured, size by size. Latency percentiles therefore differ from the
median, as they do in production, and not by the same factor at every batch size.

The service runs in the grader's process (the referee): in yours, ``run_batch`` asks the referee
to serve the batch and returns when it has. Nothing about the slow path is in your process, and
the referee keeps a record of the calls you made: how long the service took to serve each one,
and which took the slow path.

Weights and inputs come from a seed; nothing is trained or downloaded.
"""

from __future__ import annotations

import dataclasses
import operator
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from quiz.lab.contestant import ask_referee

BATCH_SIZES = (1, 4, 16, 64, 256)
DIM = 384
LAYERS = 8
STALL_BLOCK = 10  # every this-many-th call takes the slow path
# A slow call runs the batch this many extra times: one of these, drawn by the grader for each
# batch size and each grade. Not one factor for every size: a submission that timed a few calls
# and took the p99 as a fixed multiple of the median passed whenever its multiple was near the
# grade's factor (and the only check was that it had called the slow path).
SLOW_PATH_RETRIES = (1, 3, 7, 15)  # 2x to 16x the call: no single guess is near them all


class Service:
    def __init__(self, seed: int, device: torch.device, retries: Mapping[int, int]) -> None:
        generator = torch.Generator().manual_seed(seed)
        layers: list[nn.Module] = []
        for _ in range(LAYERS):
            linear = nn.Linear(DIM, DIM)
            with torch.no_grad():
                linear.weight.copy_(torch.randn(DIM, DIM, generator=generator) / DIM**0.5)
                linear.bias.zero_()
            layers += [linear, nn.GELU()]
        self.model = nn.Sequential(*layers).to(device).eval()
        self.device = device
        self._inputs = {b: torch.randn(b, DIM, generator=generator).to(device) for b in BATCH_SIZES}
        self._stall_at = random.Random(seed).randrange(STALL_BLOCK)
        self._retries = {size: retries[size] for size in BATCH_SIZES}
        # Per batch size: how long the service took to serve each call (seconds), fast and slow.
        self.fast_s: dict[int, list[float]] = {size: [] for size in BATCH_SIZES}
        self.slow_s: dict[int, list[float]] = {size: [] for size in BATCH_SIZES}

    def calls(self, batch_size: int) -> int:
        return len(self.fast_s[batch_size]) + len(self.slow_s[batch_size])

    @torch.no_grad()
    def run_batch(self, batch_size: int) -> None:
        """Serve one batch of ``batch_size`` requests (one of BATCH_SIZES)."""
        if batch_size not in self._inputs:
            raise ValueError(f"batch_size must be one of {BATCH_SIZES}, not {batch_size!r}")
        start = time.perf_counter()
        x = self._inputs[batch_size]
        out = self.model(x)
        slow = sum(map(self.calls, BATCH_SIZES)) % STALL_BLOCK == self._stall_at
        if slow:
            for _ in range(self._retries[batch_size]):  # the slow path: the batch is retried
                out = self.model(x)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        del out
        (self.slow_s if slow else self.fast_s)[batch_size].append(time.perf_counter() - start)


def run_batch(batch_size: int) -> None:
    """Serve one batch of ``batch_size`` requests (one of BATCH_SIZES; numpy integers too) and
    return when they are done: the service runs in the referee, which serves it while this call
    waits."""
    size = _integer_or_text(batch_size)
    if size not in BATCH_SIZES:
        raise ValueError(f"batch_size must be one of {BATCH_SIZES}, not {batch_size!r}")
    ask_referee({"run_batch": size})


def serve(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The contestant's endpoints (runs in the sandboxed contestant, never in the referee):
    ``choose(sla_p99_s)`` runs ``solution.choose_batch_size`` against the referee's service and
    returns the batch size it picked and the p99s it reported, as plain data (the p99s keyed by
    the batch size written as a string). The referee measures the truth with a service of its
    own; nothing here knows it."""
    choose_batch_size = getattr(solution, "choose_batch_size", None)
    if not callable(choose_batch_size):
        raise AttributeError("solution.py must define choose_batch_size(run_batch, sizes, sla)")

    def choose(sla_p99_s: float) -> Any:
        answer = choose_batch_size(run_batch, list(BATCH_SIZES), float(sla_p99_s))
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            return {"returned": repr(answer)[:200]}  # the referee says what was expected
        batch_size, p99_s = answer
        size = _integer_or_text(batch_size)
        if not isinstance(p99_s, Mapping):
            return [size, repr(p99_s)[:200]]
        return [size, {str(key): _number_or_text(p99) for key, p99 in p99_s.items()}]

    return {"choose": choose}


def _integer_or_text(value: Any) -> int | str:
    """A batch size as an int (numpy integers too), or its repr for the referee's error
    message (a bool is not a batch size)."""
    if isinstance(value, bool):
        return repr(value)
    try:
        return operator.index(value)
    except TypeError:
        return repr(value)[:100]


def _number_or_text(value: Any) -> float | str:
    """A reported p99 as a float (numpy and torch scalars too), or its repr for the referee's
    error message."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return repr(value)[:100]


def measure(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The grader's measuring contestant (``solution`` is the trusted ``baseline.py``):
    ``sweep()`` returns one row per batch size (``batch_size``, ``p50_s``, ``p99_s``,
    ``throughput``) of ``solution.sweep`` over the referee's service, reached as yours is."""

    def sweep() -> list[dict[str, float]]:
        points = solution.sweep(run_batch, BATCH_SIZES)
        return [dataclasses.asdict(point) for point in points.values()]

    return {"sweep": sweep}
