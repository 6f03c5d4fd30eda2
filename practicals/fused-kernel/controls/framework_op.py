# Calls torch's F.rms_norm instead of writing a kernel: on a CPU it is no faster than the eager ops.
"""The framework's op, not a fused kernel of one's own."""

import torch.nn.functional as F
from torch import Tensor


def build() -> None:
    pass


def rms_norm(x: Tensor, weight: Tensor, eps: float, out: Tensor) -> Tensor:
    return out.copy_(F.rms_norm(x, (x.shape[-1],), weight, eps))
