"""``torch.distributed`` for a contestant that is one rank of a group (contestant side).

Each rank of a group runs in a sandbox of its own (``quiz.lab.rank_group``): no shared folder, no
network between them. The only way between ranks is the process group registered here as the
``"referee"`` backend, whose every collective is a question to the referee
(``contestant.ask_referee``). The referee waits for every rank's matching call, computes the
result from their tensors, answers each rank and counts the call, its bytes and how long each
rank waited. So the code under test uses the ordinary API (``dist.all_reduce(t)``,
``dist.all_gather(...)``, ``async_op=True``) and cannot hide a collective from the count.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.futures import Future

from quiz.lab.contestant import ask_referee

BACKEND = "referee"
SUPPORTED = "all_reduce, all_gather, all_gather_into_tensor, broadcast, reduce_scatter, barrier"
_REDUCE_OPS = {
    dist.ReduceOp.SUM: "sum",
    dist.ReduceOp.AVG: "avg",
    dist.ReduceOp.PRODUCT: "product",
    dist.ReduceOp.MIN: "min",
    dist.ReduceOp.MAX: "max",
}


def init_rank(rank: int, world_size: int) -> None:
    """Join this process to the group as ``rank`` of ``world_size`` (the default group)."""
    if BACKEND not in dist.Backend.backend_list:
        dist.Backend.register_backend(BACKEND, _create, devices=["cpu"])
    dist.init_process_group(BACKEND, store=dist.HashStore(), rank=rank, world_size=world_size)


def _create(store: Any, rank: int, world_size: int, timeout: timedelta) -> RefereeGroup:
    if dist.is_initialized() and world_size != dist.get_world_size():
        raise RuntimeError(
            f"only the whole group of {dist.get_world_size()} ranks can be used here"
        )
    return RefereeGroup(rank, world_size)


class _Done(dist.Work):
    """A collective that is complete when it returns (the referee has answered)."""

    def __init__(self, result: list[torch.Tensor]) -> None:
        super().__init__()
        self._future: Future[list[torch.Tensor]] = Future()
        self._future.set_result(result)

    def wait(self, timeout: timedelta | None = None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True

    def is_success(self) -> bool:
        return True

    def get_future(self) -> Future[list[torch.Tensor]]:
        return self._future


class RefereeGroup(dist.ProcessGroup):
    """A process group whose collectives the referee computes and counts."""

    def __init__(self, rank: int, world_size: int) -> None:
        super().__init__(rank, world_size)  # type: ignore[call-arg]

    def getBackendName(self) -> str:  # noqa: N802 - torch's name
        return BACKEND

    def allreduce(self, tensors: list[torch.Tensor], opts: Any) -> _Done:  # type: ignore[override]
        results = self._ask("all_reduce", tensors, reduce=_reduce_op(opts))
        for tensor, result in zip(tensors, results, strict=True):
            tensor.copy_(result)
        return _Done(tensors)

    def allreduce_coalesced(self, tensors: list[torch.Tensor], opts: Any) -> _Done:  # type: ignore[override]
        return self.allreduce(tensors, opts)

    def allgather(  # type: ignore[override]
        self, outputs: list[list[torch.Tensor]], inputs: list[torch.Tensor], opts: Any
    ) -> _Done:
        gathered = self._ask("all_gather", inputs)
        for out_list, per_rank in zip(outputs, gathered, strict=True):
            for out, value in zip(out_list, per_rank, strict=True):
                out.copy_(value)
        return _Done([t for out_list in outputs for t in out_list])

    def all_gather_single(self, output: torch.Tensor, input: torch.Tensor, opts: Any) -> _Done:  # type: ignore[override]
        per_rank = self._ask("all_gather", [input])[0]
        output.copy_(torch.cat([t.reshape(-1) for t in per_rank]).view_as(output))
        return _Done([output])

    _allgather_base = all_gather_single  # type: ignore[assignment]

    def broadcast(self, tensors: list[torch.Tensor], opts: Any) -> _Done:  # type: ignore[override]
        results = self._ask("broadcast", tensors, root=int(opts.rootRank))
        for tensor, result in zip(tensors, results, strict=True):
            tensor.copy_(result)
        return _Done(tensors)

    def reduce_scatter(  # type: ignore[override]
        self, outputs: list[torch.Tensor], inputs: list[list[torch.Tensor]], opts: Any
    ) -> _Done:
        for output, chunks in zip(outputs, inputs, strict=True):
            (result,) = self._ask("reduce_scatter", chunks, reduce=_reduce_op(opts))
            output.copy_(result)
        return _Done(outputs)

    def reduce_scatter_single(self, output: torch.Tensor, input: torch.Tensor, opts: Any) -> _Done:
        chunks = list(input.reshape(-1).chunk(self.size()))
        (result,) = self._ask("reduce_scatter", chunks, reduce=_reduce_op(opts))
        output.copy_(result.view_as(output))
        return _Done([output])

    _reduce_scatter_base = reduce_scatter_single  # type: ignore[assignment]

    def barrier(self, opts: Any = None) -> _Done:
        self._ask("barrier", [])
        return _Done([])

    def _ask(self, op: str, tensors: list[torch.Tensor], **options: Any) -> Any:
        contiguous = [t.detach().contiguous() for t in tensors]
        return ask_referee({"op": op, "tensors": contiguous, **options})


def _unsupported(name: str) -> Any:
    def refuse(self: RefereeGroup, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"torch.distributed's {name} is not available in this group; the referee relays "
            f"{SUPPORTED}"
        )

    return refuse


for _name in ("reduce", "gather", "scatter", "send", "recv", "alltoall", "all_to_all_single"):
    setattr(RefereeGroup, _name, _unsupported(_name))


def _reduce_op(opts: Any) -> str:
    for op, name in _REDUCE_OPS.items():
        if opts.reduceOp == op:
            return name
    raise RuntimeError(f"reduce op {opts.reduceOp} is not supported here")
