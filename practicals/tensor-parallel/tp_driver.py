"""Runs a submission as a group of ``torch.distributed`` ranks, one CPU thread each.

The grader starts this driver in a sandboxed process (the coordinator) with
``serve(solution, {"world_size": n})``. The coordinator starts ``n`` rank processes; each joins
one ``gloo`` process group (rendezvous through a file in the sandbox's scratch folder, traffic
over the sandbox's own loopback interface), imports ``solution.py`` and waits for orders. The
endpoints the grader calls:

- ``load(seed)``: every rank builds the unsplit model from ``seed``, calls
  ``solution.shard_model(model, rank, world_size)``, keeps what it returns and drops the rest.
- ``forward(tokens)``: every rank runs its part on the same tokens ``[batch, seq]``; rank 0's
  logits come back.
- ``collective_stats()``: per rank, the collective calls, the seconds spent in them and the
  seconds of forward passes since the last ``collective_stats()``, counted here by wrapping
  ``torch.distributed``'s functions. This code runs beside your submission, so these counts are
  for your information only: the grader measures communication and memory itself, from outside.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib.util
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.connection import Connection, wait
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.distributed as dist
from tp_model import build_model

RANK_START_TIMEOUT_S = 120.0
COLLECTIVE_TIMEOUT = timedelta(seconds=60)
COLLECTIVES = (
    "all_reduce",
    "all_gather",
    "all_gather_into_tensor",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "broadcast",
    "reduce",
    "all_to_all",
    "all_to_all_single",
    "send",
    "recv",
    "isend",
    "irecv",
    "barrier",
    "gather",
    "scatter",
)
RANK_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); import tp_driver; tp_driver.rank_main()"


def serve(solution: ModuleType, init: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    group = RankGroup(Path(str(solution.__file__)), int(init["world_size"]))
    return {
        "load": group.load,
        "forward": group.forward,
        "collective_stats": group.collective_stats,
    }


class RankGroup:
    """The coordinator's handle on the rank processes."""

    def __init__(self, solution_path: Path, world_size: int) -> None:
        if world_size < 1:
            raise ValueError(f"world_size must be at least 1, not {world_size}")
        self.world_size = world_size
        self.broken = ""
        store = Path(tempfile.mkdtemp(prefix="tp-rendezvous-")) / "store"
        self.ranks = [
            _RankProcess(rank, world_size, store, solution_path) for rank in range(world_size)
        ]
        self._gather(timeout_s=RANK_START_TIMEOUT_S)

    def load(self, seed: int) -> None:
        self._broadcast(("load", int(seed)))
        self._gather()

    def forward(self, tokens: torch.Tensor) -> Any:
        self._broadcast(("forward", tokens))
        return self._gather()[0]

    def collective_stats(self) -> list[dict[str, Any]]:
        self._broadcast(("stats", None))
        return self._gather()

    def _broadcast(self, message: tuple[str, Any]) -> None:
        if self.broken:
            raise RuntimeError(f"the rank group stopped earlier: {self.broken}")
        data = pickle.dumps(message)
        for rank in self.ranks:
            rank.orders.send_bytes(data)

    def _gather(self, timeout_s: float | None = None) -> list[Any]:
        """Every rank's reply, in rank order; the first error stops the whole group."""
        replies: dict[int, Any] = {}
        waiting = {rank.replies: rank for rank in self.ranks}
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while waiting:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait(list(waiting), timeout=left)
            if not ready:
                self._stop("the ranks did not start in time")
            for conn in ready:
                rank = waiting.pop(conn)  # type: ignore[call-overload]
                status, value = rank.receive()
                if status == "error":
                    self._stop(f"rank {rank.rank}: {value}")
                replies[rank.rank] = value
        return [replies[rank] for rank in range(self.world_size)]

    def _stop(self, reason: str) -> None:
        self.broken = reason
        for rank in self.ranks:
            rank.kill()
        raise RuntimeError(reason)


class _RankProcess:
    def __init__(self, rank: int, world_size: int, store: Path, solution: Path) -> None:
        self.rank = rank
        order_read, order_write = os.pipe()
        reply_read, reply_write = os.pipe()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
        argv = [str(Path(__file__).parent), str(solution), str(rank), str(world_size), str(store)]
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", RANK_BOOT, *argv, str(order_read), str(reply_write)],
            pass_fds=(order_read, reply_write),
            env=env,
        )
        os.close(order_read)
        os.close(reply_write)
        self.orders = Connection(order_write, readable=False)
        self.replies = Connection(reply_read, writable=False)

    def receive(self) -> tuple[str, Any]:
        try:
            status, value = pickle.loads(self.replies.recv_bytes())
        except EOFError:
            code = self.process.wait()
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            return "error", f"the rank process {how}"
        return str(status), value

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# --- in each rank process ---------------------------------------------------------------


def rank_main() -> None:
    solution_path = Path(sys.argv[2])
    rank, world_size = int(sys.argv[3]), int(sys.argv[4])
    store, order_fd, reply_fd = sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
    _die_with_parent()
    torch.set_num_threads(1)
    orders = Connection(order_fd, writable=False)
    replies = Connection(reply_fd, readable=False)

    def reply(status: str, value: Any) -> None:
        replies.send_bytes(pickle.dumps((status, value)))

    try:
        dist.init_process_group(
            "gloo",
            init_method=f"file://{store}",
            rank=rank,
            world_size=world_size,
            timeout=COLLECTIVE_TIMEOUT,
        )
    except Exception as err:  # noqa: BLE001 - reported to the grader as the reason
        reply("error", f"torch.distributed could not start the gloo backend here: {err}")
        return
    counter = CollectiveCounter()
    try:
        solution = _import_solution(solution_path)
    except Exception as err:  # noqa: BLE001
        reply("error", _own_traceback(err, solution_path))
        return
    reply("ok", os.getpid())
    rank_loop(solution, solution_path, rank, world_size, orders, reply, counter)


def rank_loop(
    solution: ModuleType,
    solution_path: Path,
    rank: int,
    world_size: int,
    orders: Connection,
    reply: Callable[[str, Any], None],
    counter: CollectiveCounter,
) -> None:
    sharded: Any = None
    while True:
        try:
            command, argument = pickle.loads(orders.recv_bytes())
        except EOFError:
            return
        try:
            if command == "load":
                sharded = None
                sharded = _load(solution, int(argument), rank, world_size)
                counter.reset()
                reply("ok", None)
            elif command == "forward":
                if sharded is None:
                    raise RuntimeError("forward before load")
                with counter.forward(), torch.inference_mode():
                    logits = sharded(argument)
                reply("ok", logits if rank == 0 else None)
            elif command == "stats":
                reply("ok", counter.take())
        except Exception as err:  # noqa: BLE001
            reply("error", _own_traceback(err, solution_path))
            return


def _load(solution: ModuleType, seed: int, rank: int, world_size: int) -> Any:
    shard_model = getattr(solution, "shard_model", None)
    if not callable(shard_model):
        raise AttributeError("solution.py must define shard_model(model, rank, world_size)")
    model = build_model(seed)
    sharded = shard_model(model, rank, world_size)
    del model
    gc.collect()
    _return_freed_memory()
    return sharded


class CollectiveCounter:
    """Counts and times calls of ``torch.distributed``'s collectives in this process."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.collective_s = 0.0
        self.forward_s = 0.0
        self.forwards = 0
        for name in COLLECTIVES:
            original = getattr(dist, name, None)
            if original is not None:
                setattr(dist, name, self._wrap(name, original))

    def _wrap(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.collective_s += time.perf_counter() - start
                self.calls[name] += 1

        counted.__wrapped__ = original  # type: ignore[attr-defined]
        return counted

    def forward(self) -> _Timed:
        return _Timed(self)

    def reset(self) -> None:
        self.calls.clear()
        self.collective_s = self.forward_s = 0.0
        self.forwards = 0

    def take(self) -> dict[str, Any]:
        stats = {
            "forwards": self.forwards,
            "calls": dict(self.calls),
            "collective_s": self.collective_s,
            "forward_s": self.forward_s,
        }
        self.reset()
        return stats


class _Timed:
    def __init__(self, counter: CollectiveCounter) -> None:
        self.counter = counter
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.counter.forward_s += time.perf_counter() - self.start
        self.counter.forwards += 1


def _import_solution(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("solution", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["solution"] = module
    spec.loader.exec_module(module)
    return module


def _own_traceback(err: BaseException, solution_path: Path) -> str:
    """The error with only the submission's frames (file and line), or just the error."""
    frames = [
        f for f in traceback.extract_tb(err.__traceback__) if f.filename == str(solution_path)
    ]
    lines = [f'  File "solution.py", line {f.lineno}, in {f.name}\n    {f.line}' for f in frames]
    return "\n".join([*lines, f"{type(err).__name__}: {err}"])


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _return_freed_memory() -> None:
    """Give the unsplit model's freed pages back to the system, so that the process's resident
    memory is what it still holds."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
