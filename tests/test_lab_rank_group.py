"""A contestant that is a group of ranks: the referee's relay computes and counts every
collective (unit tests on threads), and real rank contestants reach each other only through it
(toy practicals graded end to end)."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from quiz import config
from quiz.lab.rank_group import Relay
from quiz.lab.referee import Refused
from quiz.lab.runner import LabResult, grade_practical
from quiz.lab.sandbox import sandbox_level
from tests.lab_fixtures import write_practical


def run_ranks(relay: Relay, questions: list[Any]) -> list[Any]:
    """Each rank submits its question on a thread of its own; its answer or its Refused."""
    relay.begin()
    results: list[Any] = [None] * len(questions)

    def ask(rank: int) -> None:
        try:
            results[rank] = relay.submit(rank, questions[rank])
        except Refused as refusal:
            results[rank] = refusal

    threads = [threading.Thread(target=ask, args=(r,)) for r in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_all_reduce_answers_every_rank_with_the_sum_and_is_counted() -> None:
    relay = Relay(2)
    a, b = torch.arange(4.0), torch.ones(4)
    answers = run_ranks(
        relay,
        [
            {"op": "all_reduce", "reduce": "sum", "tensors": [a]},
            {"op": "all_reduce", "reduce": "sum", "tensors": [b]},
        ],
    )
    for answer in answers:
        assert torch.equal(answer[0], a + b)
    stats = relay.take_stats()
    assert dict(stats.calls) == {"all_reduce": 1}
    assert stats.bytes_in == 2 * 16 and stats.bytes_out == 2 * 16
    assert relay.take_stats().calls == {}  # taken


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ({"op": "all_reduce", "reduce": "avg"}, lambda xs, r: [(xs[0] + xs[1] + xs[2]) / 3]),
        ({"op": "all_reduce", "reduce": "max"}, lambda xs, r: [torch.stack(xs).amax(0)]),
        ({"op": "all_gather"}, lambda xs, r: [[xs[0], xs[1], xs[2]]]),
        ({"op": "broadcast", "root": 2}, lambda xs, r: [xs[2]]),
    ],
)
def test_each_collective_computes_what_torch_distributed_defines(
    question: dict[str, Any], expected: Callable[[list[torch.Tensor], int], Any]
) -> None:
    inputs = [torch.randn(5, generator=torch.Generator().manual_seed(r)) for r in range(3)]
    answers = run_ranks(Relay(3), [{**question, "tensors": [x]} for x in inputs])
    for rank, answer in enumerate(answers):
        want = expected(inputs, rank)
        flat_got = answer[0] if question["op"] == "all_gather" else answer
        flat_want = want[0] if question["op"] == "all_gather" else want
        assert all(torch.allclose(g, w) for g, w in zip(flat_got, flat_want, strict=True))


def test_reduce_scatter_gives_each_rank_its_reduced_chunk_and_barrier_nothing() -> None:
    chunks = [[torch.full((2,), 10.0 * r + c) for c in range(2)] for r in range(2)]
    answers = run_ranks(
        Relay(2), [{"op": "reduce_scatter", "reduce": "sum", "tensors": c} for c in chunks]
    )
    assert [a[0].tolist() for a in answers] == [[10.0, 10.0], [12.0, 12.0]]
    assert run_ranks(Relay(2), [{"op": "barrier", "tensors": []}] * 2) == [[], []]


def test_ranks_that_call_different_collectives_are_all_refused() -> None:
    x = torch.ones(3)
    answers = run_ranks(
        Relay(2),
        [
            {"op": "all_reduce", "reduce": "sum", "tensors": [x]},
            {"op": "all_gather", "tensors": [x]},
        ],
    )
    assert all(isinstance(a, Refused) for a in answers)
    assert "different collectives" in str(answers[0]) and "all_gather" in str(answers[0])
    shapes = run_ranks(
        Relay(2),
        [
            {"op": "all_reduce", "reduce": "sum", "tensors": [x]},
            {"op": "all_reduce", "reduce": "sum", "tensors": [torch.ones(4)]},
        ],
    )
    assert "different shapes" in str(shapes[1])


def test_a_rank_that_leaves_without_joining_frees_the_waiting_ones_with_the_reason() -> None:
    relay = Relay(2)
    relay.begin()
    outcome: list[Any] = []

    def rank_zero() -> None:
        try:
            relay.submit(0, {"op": "all_reduce", "reduce": "sum", "tensors": [torch.ones(2)]})
        except Refused as refusal:
            outcome.append(refusal)

    thread = threading.Thread(target=rank_zero)
    thread.start()
    while not relay._asked:  # rank 0 is waiting in its all_reduce
        threading.Event().wait(0.01)
    relay.leave(1)
    thread.join(timeout=10)
    assert outcome and "rank 1 finished the call without joining the all_reduce" in str(outcome[0])
    assert relay.refused == {0}


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("all_reduce", "not a collective"),
        ({"op": "send", "tensors": []}, "not a collective"),
        ({"op": "all_reduce", "reduce": "sum", "tensors": "x"}, "list of tensors"),
        ({"op": "all_reduce", "reduce": "xor", "tensors": []}, "reduce op"),
        ({"op": "broadcast", "root": 5, "tensors": []}, "root"),
        ({"op": "reduce_scatter", "reduce": "sum", "tensors": [torch.ones(1)]}, "one input chunk"),
    ],
)
def test_a_malformed_question_is_refused_with_the_reason(question: Any, reason: str) -> None:
    answers = run_ranks(Relay(2), [question, question])
    assert all(isinstance(a, Refused) and reason in str(a) for a in answers), answers


# --- real rank contestants -------------------------------------------------------------------

GROUP_GRADER = """
from quiz.lab.api import Check, SubmissionError
import torch


def grade(ctx):
    group = ctx.start_rank_group("toy_driver:serve", 2)
    try:
        out = group.call("work", torch.arange(6, dtype=torch.float32))
    except SubmissionError as err:
        return [Check("work", False, message=str(err))]
    ctx.details["stats"] = group.take_stats().to_dict()
    ctx.details["out"] = {
        k: [t.tolist() for t in v] if isinstance(v, list) else v.tolist() for k, v in out.items()
    }
    return [Check("work", True)]
"""

GROUP_DRIVER = """
from quiz.lab.collectives import init_rank


def serve(solution, init):
    rank = init["rank"]
    init_rank(rank, init["world_size"])
    return {"work": lambda x: solution.work(x, rank)}
"""

COLLECTIVES = """
import torch
import torch.distributed as dist


def work(x, rank):
    summed = x * (rank + 1)
    dist.all_reduce(summed)
    gathered = torch.empty(2 * x.numel())
    dist.all_gather_into_tensor(gathered, x + rank)
    sent = x.clone() if rank == 1 else torch.zeros_like(x)
    dist.broadcast(sent, src=1)
    scattered = torch.empty(3)
    dist.reduce_scatter_tensor(scattered, x * (rank + 1))
    top = torch.tensor([float(rank)])
    dist.all_reduce(top, op=dist.ReduceOp.MAX)
    parts = [torch.empty_like(x) for _ in range(2)]
    dist.all_gather(parts, x * rank)
    dist.barrier()
    dist.all_reduce(x.clone(), async_op=True).wait()
    return {"sum": summed, "gather": gathered, "bcast": sent, "rs": scattered, "max": top,
            "parts": parts}
"""


def grade_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str) -> LabResult:
    root = tmp_path / "practicals"
    folder = write_practical(root, grader=GROUP_GRADER)
    (folder / "toy_driver.py").write_text(GROUP_DRIVER, encoding="utf-8")
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    path = tmp_path / "submission.py"
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return grade_practical("toy", path, source="path")


@pytest.mark.slow
def test_ranks_use_the_torch_distributed_api_and_the_referee_counts_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = grade_group(tmp_path, monkeypatch, COLLECTIVES)
    assert result.passed, (result.error, [c.message for c in result.checks])
    x = list(range(6))
    out = result.details["out"]
    assert out["sum"] == [3.0 * v for v in x]
    assert out["gather"] == [float(v) for v in x] + [v + 1.0 for v in x]
    assert out["bcast"] == [float(v) for v in x]
    assert out["rs"] == [3.0 * v for v in x[:3]]
    assert out["max"] == [1.0]
    assert out["parts"] == [[0.0] * 6, [float(v) for v in x]]
    stats = result.details["stats"]
    assert stats["calls"] == {
        "all_reduce": 3,
        "all_gather": 2,
        "broadcast": 1,
        "reduce_scatter": 1,
        "barrier": 1,
    }
    assert stats["group_calls"] == 1 and len(stats["waited_s"]) == 2


@pytest.mark.slow
def test_a_rank_that_skips_a_collective_gets_a_clear_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = """
    import torch.distributed as dist


    def work(x, rank):
        if rank == 0:
            dist.all_reduce(x)
        return {"x": x}
    """
    result = grade_group(tmp_path, monkeypatch, code)
    assert not result.passed and result.duration_s < 60
    message = result.checks[0].message
    assert "rank 0" in message and "line 7" in message, message
    assert "rank 1 finished the call without joining the all_reduce" in message, message


@pytest.mark.slow
@pytest.mark.skipif(
    sandbox_level().level != "namespaces", reason=f"sandbox: {sandbox_level().describe()}"
)
def test_ranks_cannot_reach_each_other_except_through_the_referee(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a submission would use to hide traffic from the count: a socket (abstract Unix or
    TCP on loopback), a file in /tmp or /dev/shm. Rank 0 offers each; rank 1 finds none."""
    code = """
    import os, socket, time
    import torch
    import torch.distributed as dist


    def work(x, rank):
        if rank == 0:
            unix = socket.socket(socket.AF_UNIX)
            unix.bind("\\0latency-quiz-rank-cheat")
            unix.listen(1)
            try:  # refused outright by the contestant's seccomp filter (no IPv4/IPv6 sockets)
                tcp = socket.socket()
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind(("127.0.0.1", 47123))
                tcp.listen(1)
            except PermissionError:
                pass
            for folder in ("/tmp", "/dev/shm"):
                with open(os.path.join(folder, "rank0-was-here"), "w") as f:
                    f.write("hello")
        dist.barrier()  # rank 0's offers are in place
        reached = []
        if rank == 1:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect("\\0latency-quiz-rank-cheat")
                reached.append("abstract socket")
            except OSError:
                pass
            try:
                socket.create_connection(("127.0.0.1", 47123), timeout=1)
                reached.append("tcp")
            except OSError:
                pass
            for folder in ("/tmp", "/dev/shm"):
                if os.path.exists(os.path.join(folder, "rank0-was-here")):
                    reached.append(folder)
        found = torch.tensor([float(len(reached))])
        dist.all_reduce(found)
        return {"found": found}
    """
    result = grade_group(tmp_path, monkeypatch, code)
    assert result.passed, (result.error, [c.message for c in result.checks])
    assert result.details["out"]["found"] == [0.0]
