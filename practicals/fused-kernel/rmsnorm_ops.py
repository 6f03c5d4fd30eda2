"""The op to fuse, RMSNorm over the last dimension, as the eager composition of separate torch
ops (the baseline), in float32 math whatever the input dtype:

    y = (x * rsqrt(mean(x^2, -1) + eps) * weight) cast back to x's dtype

and the grading driver that serves a solution's kernel in its contestant process.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

EPS = 1e-6
# The timed input: large enough that one call moves tens of megabytes (a memory-bound op).
CPU_SHAPE = (2048, 4096)
CUDA_SHAPE = (8192, 8192)
POOL_SIZE = 3
# On a GPU one timed request chains this many norms, each step's output the next step's input
# with a fresh weight per step, and brings back only the last output: copying one 128 MiB output
# back to the grader costs more than a few of these kernels, and with one norm per request that
# copy made every side equally fast (the model solution measured 1.0x the eager composition).
CUDA_CHAIN_STEPS = 64
POOL_SEED = 0x2F1
# Strided views of contiguous tensors: tensors cross the channel contiguous, so a case names
# the view and both sides apply it.
VIEWS: dict[str, Callable[[Tensor], Tensor]] = {
    "none": lambda t: t,
    "transposed": lambda t: t.t(),
    "every other column": lambda t: t[..., ::2],
    "first 1000 columns": lambda t: t[..., :1000],
}


def eager_rms_norm(x: Tensor, weight: Tensor, eps: float = EPS) -> Tensor:
    """Five kernels: square, mean, rsqrt, scale, weight; seven passes over memory (square, scale
    and weight read and write a whole tensor, mean reads one; rsqrt's is one number per row)."""
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)


def eager_rms_norm_into(out: Tensor, x: Tensor, weight: Tensor, eps: float = EPS) -> Tensor:
    """The eager composition with its last op writing into ``out`` (the baseline)."""
    xf = x.float()
    scaled = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return torch.mul(scaled, weight.float(), out=out)


def fewest_pass_rms_norm_into(out: Tensor, x: Tensor, weight: Tensor, eps: float = EPS) -> Tensor:
    """RMSNorm in as few passes over memory as separate torch ops allow: the norm of each row
    (one read of x), x times each row's scale into ``out`` (a read and a write), then ``out``
    times the weight in place (a read and a write). Five passes where a fused kernel makes two,
    the second comparison of the grade."""
    xf = x.float()
    norm = torch.linalg.vector_norm(xf, dim=-1, keepdim=True)
    scale = torch.rsqrt(norm.square_().div_(max(x.shape[-1], 1)).add_(eps))
    torch.mul(xf, scale, out=out)
    return out.mul_(weight)


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """Per-dtype tolerances for comparing against the eager composition."""
    if dtype == torch.float32:
        return {"rtol": 1e-5, "atol": 1e-5}
    return {"rtol": 2e-2, "atol": 2e-2}  # fp16 / bf16: one rounding of the output


def timed_inputs(shape: tuple[int, int], device: torch.device, dtype: torch.dtype) -> list[Tensor]:
    """On a GPU, the large inputs the timed trials cycle through (drawn once per process, before
    any trial; each trial brings a fresh weight): shipping a fresh input to the GPU would cost
    more than the kernel. On the CPU every timed request brings a fresh input instead, in
    shared memory."""
    generator = torch.Generator().manual_seed(POOL_SEED)
    return [torch.randn(shape, generator=generator).to(device, dtype) for _ in range(POOL_SIZE)]


def serve(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The contestant's endpoints (run in the sandboxed contestant process, never in the
    referee): ``build()``; ``rms_norm(case)`` on one correctness case (base tensors and the
    names of the views to apply) into a fresh output; ``run({"x", "weight", "eps"})`` on the
    CPU, a fresh input and weight in every timed request (staged in shared memory while this
    process is stopped), into this process's one timed output, read from its memory after it
    is stopped again (see the grader); ``run({"index", "weights", "eps"})`` on a GPU: one of the
    timed inputs already there, normed by each of the trial's fresh weights in turn, each
    step's output the next one's input (``CUDA_CHAIN_STEPS``); the last output comes back."""
    build = getattr(solution, "build", None)
    kernel = getattr(solution, "rms_norm", None)
    if not callable(build) or not callable(kernel):
        raise AttributeError("solution.py must define build() and rms_norm(x, weight, eps, out)")
    _check_signature(kernel)
    device = torch.device(init["device"])
    dtype = getattr(torch, init["dtype"])
    shape = CUDA_SHAPE if device.type == "cuda" else CPU_SHAPE
    inputs = timed_inputs(CUDA_SHAPE, device, dtype) if device.type == "cuda" else []
    # written once here so that no call pays for its first touch
    timed_out = torch.zeros(shape, dtype=dtype, device=device)
    chain_out = torch.zeros(shape, dtype=dtype, device=device) if device.type == "cuda" else None

    def into(out: Tensor, x: Tensor, weight: Tensor, eps: float) -> Tensor:
        returned = kernel(x, weight, eps, out)
        if isinstance(returned, Tensor) and returned is not out:
            raise TypeError(
                "rms_norm must write its result into out and return out (or None), not "
                "another tensor"
            )
        return out

    def build_kernel() -> None:
        build()

    def rms_norm(case: dict[str, Any]) -> Tensor:
        x = VIEWS[case["x_view"]](case["x"].to(device, dtype))
        weight = VIEWS[case["weight_view"]](case["weight"].to(device, dtype))
        return into(torch.empty(x.shape, dtype=dtype, device=device), x, weight, case["eps"])

    def run(request: dict[str, Any]) -> Tensor:
        eps = float(request["eps"])
        if chain_out is None:
            weight = request["weight"].to(device, dtype)
            return into(timed_out, request["x"].to(device, dtype), weight, eps)
        x = inputs[int(request["index"])]
        for step, weight in enumerate(request["weights"].to(device, dtype)):
            x = into((timed_out, chain_out)[step % 2], x, weight, eps)
        return x

    return {"build": build_kernel, "rms_norm": rms_norm, "run": run}


def _check_signature(kernel: Callable[..., Any]) -> None:
    try:
        inspect.signature(kernel).bind(None, None, None, None)
    except TypeError:
        raise TypeError(
            "rms_norm must take (x, weight, eps, out) and write its result into out (a "
            "workspace started before this practical passed the output buffer has the old "
            "three-argument starter: see README.md)"
        ) from None
    except ValueError:  # a builtin without a signature: called as it is
        pass
