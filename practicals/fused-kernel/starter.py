"""Fused RMSNorm. Your sandboxed process imports this file and calls ``build()`` once
(compile time is measured and bounded, not timed against the baseline), then
``rms_norm(x, weight, eps, out)`` on odd shapes, strided inputs and a large tensor; write the
result into ``out`` (contiguous, ``x``'s shape and dtype) and return it. See README.md.

This version is the eager composition: five kernels, seven passes over memory. Replace it with
one kernel that reads each row once and writes it once.
"""

import torch
from torch import Tensor


def build() -> None:
    """Compile your kernel here, e.g. with kernel_build.load_cpu_kernel (cached by source)."""


def rms_norm(x: Tensor, weight: Tensor, eps: float, out: Tensor) -> Tensor:
    xf = x.float()
    scaled = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return torch.mul(scaled, weight.float(), out=out)
