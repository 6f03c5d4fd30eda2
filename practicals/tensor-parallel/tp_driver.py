"""Runs a submission as one rank of a ``torch.distributed`` group, on one CPU thread.

The grader starts one sandboxed process per rank with ``serve(solution, {"rank": r,
"world_size": n})``. The ranks cannot reach each other: no shared folder, no network. Their
process group (already initialised when ``shard_model`` runs: use ``torch.distributed``
directly) is the grader itself: every collective (``all_reduce``, ``all_gather``,
``broadcast``, ``reduce_scatter``, ``barrier``) is sent to it, and it answers once every rank has
made the same call (``quiz.lab.collectives``). That is how it counts your collectives and times
the ranks' waits in them without asking your code. The endpoints the grader calls:

- ``load(seed)``: builds the unsplit model from ``seed``, calls
  ``solution.shard_model(model, rank, world_size)``, keeps what it returns and drops the rest.
- ``forward(tokens)``: runs this rank's part on the token ids ``[batch, seq]``, the same on
  every rank; rank 0 replies with the logits, the others with None.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from tp_model import build_model

from quiz.lab.collectives import init_rank


def serve(solution: ModuleType, init: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    rank, world_size = int(init["rank"]), int(init["world_size"])
    shard_model = getattr(solution, "shard_model", None)
    if not callable(shard_model):
        raise AttributeError("solution.py must define shard_model(model, rank, world_size)")
    init_rank(rank, world_size)
    held: dict[str, Any] = {}

    def load(seed: int) -> None:
        held.clear()
        model = build_model(int(seed))
        held["model"] = shard_model(model, rank, world_size)
        del model
        gc.collect()

    def forward(tokens: torch.Tensor) -> Any:
        if "model" not in held:
            raise RuntimeError("forward before load")
        with torch.inference_mode():
            logits = held["model"](tokens)
        return logits if rank == 0 else None

    return {"load": load, "forward": forward}
