"""A contestant that is a group of ranks (referee side): one sandboxed contestant per rank, and
the referee as their process group.

Ranks cannot reach each other (each has its own scratch folder, network, IPC and pid
namespaces), so every collective goes through ``Relay``: each rank's ``torch.distributed`` call
(``quiz.lab.collectives``) asks the referee, the relay waits until every rank has asked for the
same collective, computes it from their tensors here, answers them and counts it. The counts,
bytes and waits it reports are therefore the referee's own, not the submission's word.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from quiz.lab.api import SubmissionError
from quiz.lab.referee import Answerer, Contestant, ProcessMemory, Refused

OPS = ("all_reduce", "all_gather", "broadcast", "reduce_scatter", "barrier")
REDUCTIONS = ("sum", "avg", "product", "min", "max")


@dataclass
class CollectiveStats:
    """What the relay counted since the last ``take_stats()``."""

    calls: Counter[str] = field(default_factory=Counter)
    bytes_in: int = 0  # tensor bytes the ranks sent, all ranks together
    bytes_out: int = 0  # tensor bytes the referee answered with, all ranks together
    waited_s: list[float] = field(default_factory=list)  # per rank: asked until answered
    group_calls: int = 0  # calls of the group's endpoints (say forward passes)
    group_call_s: float = 0.0  # their wall time, timed here

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "waited_s": [round(s, 6) for s in self.waited_s],
            "group_calls": self.group_calls,
            "group_call_s": round(self.group_call_s, 6),
        }


class Relay:
    """Matches the ranks' collectives in order and computes them (thread-safe: each rank's call
    runs on its own thread, which blocks in ``submit`` until every rank has joined)."""

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self._lock = threading.Condition()
        self._asked: dict[int, dict[str, Any]] = {}
        self._answers: dict[int, Any] = {}
        self._generation = 0
        self._left: set[int] = set()
        self._broken = ""
        self.refused: set[int] = set()
        self.stats = CollectiveStats(waited_s=[0.0] * world_size)

    def begin(self) -> None:
        """A new call of the whole group: every rank is expected again."""
        with self._lock:
            self._asked.clear()
            self._left.clear()
            self._broken = ""
            self.refused.clear()

    def submit(self, rank: int, question: Any) -> Any:
        """Rank ``rank``'s part of its next collective; its answer once every rank has joined.
        ``Refused`` (the rank's code gets it as a RuntimeError) when the question is malformed,
        the ranks disagree, or a rank left the call without joining."""
        asked_at = time.perf_counter()
        with self._lock:
            try:
                if self._broken:
                    raise Refused(self._broken)
                self._asked[rank] = _validated(question, self.world_size)
                generation = self._generation
                if len(self._asked) == self.world_size:
                    self._complete()
                else:
                    self._check_left()
                    while self._generation == generation and not self._broken:
                        self._lock.wait()
                    if self._generation == generation:
                        raise Refused(self._broken)
                answer = self._answers.pop(rank)
            except Refused as refusal:
                self.refused.add(rank)
                self._break_with(str(refusal))
                raise
            self.stats.waited_s[rank] += time.perf_counter() - asked_at
            return answer

    def leave(self, rank: int) -> None:
        """Rank ``rank``'s call has ended (a reply or an error): the others cannot wait for it."""
        with self._lock:
            self._left.add(rank)
            self._check_left()

    def take_stats(self) -> CollectiveStats:
        with self._lock:
            stats, self.stats = self.stats, CollectiveStats(waited_s=[0.0] * self.world_size)
            return stats

    def _check_left(self) -> None:
        gone = sorted(self._left - set(self._asked))
        if self._asked and gone:
            waiting = sorted(self._asked)
            op = next(iter(self._asked.values()))["op"]
            self._break_with(
                f"rank {gone[0]} finished the call without joining the {op} that rank "
                f"{', '.join(map(str, waiting))} called: every rank must make the same "
                "collective calls in the same order"
            )

    def _break_with(self, reason: str) -> None:
        self._broken = self._broken or reason
        self._lock.notify_all()

    def _complete(self) -> None:
        asked = [self._asked[r] for r in range(self.world_size)]
        answers = _compute(asked)  # Refused when they disagree
        op = asked[0]["op"]
        self.stats.calls[op] += 1
        self.stats.bytes_in += sum(_nbytes(q["tensors"]) for q in asked)
        self.stats.bytes_out += sum(_nbytes(a) for a in answers)
        self._answers = dict(enumerate(answers))
        self._asked.clear()
        self._generation += 1
        self._lock.notify_all()


def _validated(question: Any, world_size: int) -> dict[str, Any]:
    if not isinstance(question, dict) or question.get("op") not in OPS:
        raise Refused(f"not a collective the referee relays (one of {', '.join(OPS)})")
    tensors = question.get("tensors")
    if not isinstance(tensors, list) or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise Refused("a collective's tensors must be a list of tensors")
    if (
        question["op"] in ("all_reduce", "reduce_scatter")
        and question.get("reduce") not in REDUCTIONS
    ):
        raise Refused(f"reduce op must be one of {', '.join(REDUCTIONS)}")
    if question["op"] == "broadcast":
        root = question.get("root")
        if not isinstance(root, int) or not 0 <= root < world_size:
            raise Refused(f"broadcast root must be a rank of 0..{world_size - 1}")
    if question["op"] == "reduce_scatter" and len(tensors) != world_size:
        raise Refused(f"reduce_scatter needs one input chunk per rank ({world_size})")
    return question


def _compute(asked: Sequence[dict[str, Any]]) -> list[Any]:
    """Every rank's answer to the collective they all asked for, in rank order."""
    first = asked[0]
    for rank, question in enumerate(asked):
        for key in ("op", "reduce", "root"):
            if question.get(key) != first.get(key):
                raise Refused(
                    f"the ranks called different collectives at the same point: rank 0 "
                    f"{_describe(first)}, rank {rank} {_describe(question)}"
                )
    op, world_size = first["op"], len(asked)
    inputs = [q["tensors"] for q in asked]
    layouts = {tuple((t.dtype, tuple(t.shape)) for t in ts) for ts in inputs}
    if op != "broadcast" and len(layouts) > 1:
        raise Refused(f"the ranks passed tensors of different shapes or dtypes to {op}")
    if op == "all_reduce":
        reduced = [
            _reduce([ts[i] for ts in inputs], first["reduce"]) for i in range(len(inputs[0]))
        ]
        return [reduced] * world_size
    if op == "all_gather":
        gathered = [[ts[i] for ts in inputs] for i in range(len(inputs[0]))]
        return [gathered] * world_size
    if op == "broadcast":
        root = inputs[first["root"]]
        if any(len(ts) != len(root) for ts in inputs):
            raise Refused("the ranks passed different numbers of tensors to broadcast")
        return [root] * world_size
    if op == "reduce_scatter":
        return [[_reduce([ts[r] for ts in inputs], first["reduce"])] for r in range(world_size)]
    return [[] for _ in asked]  # barrier


def _reduce(tensors: list[torch.Tensor], how: str) -> torch.Tensor:
    if how in ("sum", "avg"):
        result = tensors[0].clone()
        for tensor in tensors[1:]:
            result.add_(tensor)
        if how == "avg":
            if not result.is_floating_point():
                raise Refused("avg needs floating-point tensors")
            result.div_(len(tensors))
        return result
    stacked = torch.stack(tensors)
    if how == "product":
        return stacked.prod(0)
    return stacked.amin(0) if how == "min" else stacked.amax(0)


def _describe(question: dict[str, Any]) -> str:
    extra = question.get("reduce") or question.get("root")
    return f"{question['op']}({extra})" if extra is not None else str(question["op"])


def _nbytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, list):
        return sum(_nbytes(v) for v in value)
    return 0


class RankGroup:
    """The referee's handle on a group of rank contestants: ``call`` calls an endpoint on every
    rank at once (rank 0's reply is the value) and relays their collectives. It has the
    contestant methods the harness and the CPU meter use, over all the ranks' processes."""

    def __init__(self, ranks: list[Contestant]) -> None:
        self.ranks = ranks
        self.role = ranks[0].role
        self.relay = Relay(len(ranks))
        self._pool = ThreadPoolExecutor(max(1, len(ranks) - 1), thread_name_prefix="rank")

    @property
    def world_size(self) -> int:
        return len(self.ranks)

    def wait_started(self) -> None:
        for rank in self.ranks:
            rank.wait_started()

    def call(self, endpoint: str, *args: Any, timeout_s: float | None = None) -> Any:
        """``endpoint(*args)`` on every rank; rank 0's reply. SubmissionError names the rank
        whose error came first (not the ranks that only failed because of it)."""
        self.wait_started()
        self.relay.begin()
        start = time.perf_counter()
        others: list[Future[Any]] = [
            self._pool.submit(self._rank_call, r, endpoint, args, timeout_s)
            for r in range(1, self.world_size)
        ]
        outcomes: list[tuple[bool, Any]] = [
            self._outcome(self._rank_call, 0, endpoint, args, timeout_s)
        ]
        outcomes += [self._outcome(f.result) for f in others]
        self.relay.stats.group_calls += 1
        self.relay.stats.group_call_s += time.perf_counter() - start
        errors = [(r, value) for r, (ok, value) in enumerate(outcomes) if not ok]
        if errors:
            first = [e for e in errors if e[0] not in self.relay.refused] or errors
            rank, error = first[0]
            prefix = f"rank {rank}: " if self.world_size > 1 else ""
            raise SubmissionError(f"{prefix}{error}")
        return outcomes[0][1]

    def remote(
        self,
        endpoint: str,
        answerer: Answerer | None = None,
        send: Callable[[Any], Any] | None = None,
    ) -> Callable[[Any], Any]:
        if answerer is not None or send is not None:
            raise ValueError(
                "a rank group's calls take no answerer or send: its relay answers them"
            )
        return lambda inputs: self.call(endpoint, inputs)

    def take_stats(self) -> CollectiveStats:
        """What the relay counted since the last time (collectives, bytes, waits, calls)."""
        return self.relay.take_stats()

    def memory(self) -> list[ProcessMemory]:
        """What each rank's processes hold, read from /proc (see ``Contestant.memory``)."""
        return [rank.memory() for rank in self.ranks]

    def reset_peak(self) -> None:
        for rank in self.ranks:
            rank.reset_peak()

    def processes(self) -> list[int]:
        return [pid for rank in self.ranks for pid in rank.processes()]

    def cpu_seconds(self, pids: list[int] | None = None) -> float:
        if pids is None:
            return sum(rank.cpu_seconds() for rank in self.ranks)
        return self.ranks[0].cpu_seconds(pids)

    def reaped_cpu_seconds(self, pids: list[int]) -> float:
        return self.ranks[0].reaped_cpu_seconds(pids)

    def close(self) -> None:
        for rank in self.ranks:
            rank.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _rank_call(
        self, rank: int, endpoint: str, args: tuple[Any, ...], timeout_s: float | None
    ) -> Any:
        try:
            return self.ranks[rank].call(
                endpoint,
                *args,
                timeout_s=timeout_s,
                on_ask=lambda question: self.relay.submit(rank, question),
            )
        finally:
            self.relay.leave(rank)

    @staticmethod
    def _outcome(run: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        try:
            return True, run(*args)
        except SubmissionError as err:
            return False, str(err)
        except Exception as err:  # noqa: BLE001 - one rank's failure must not hang the others
            return False, f"{type(err).__name__}: {err}"
