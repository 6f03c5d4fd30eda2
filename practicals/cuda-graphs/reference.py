"""CUDA-graph capture of the decode step (the model solution)."""

from collections.abc import Callable

import torch
from decode_step import DecodeStep


def capture(step: DecodeStep) -> Callable[[], torch.Tensor]:
    """Warm up on a side stream (cuBLAS workspaces, allocator pools), capture one step, and
    return a function that replays it on whatever the step's input buffers hold."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        logits = step()

    def replay() -> torch.Tensor:
        graph.replay()
        return logits

    return replay
