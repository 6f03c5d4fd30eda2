"""Reference for int4-gptq: GPTQ (Frantar et al., 2022) with 4-bit codes, groups of 128 and
fp16 scales; columns in order of decreasing activation energy (act-order) with static groups."""

from __future__ import annotations

import torch
from int4_format import (
    MAX_GROUP_SIZE,
    PackedLinear,
    minmax_params,
    pack_layer,
    quantize_to_codes,
)
from int4_model import quantizable_linears
from torch import Tensor, nn

DAMPING = 0.01  # of the Hessian's mean diagonal, added to its diagonal
BLOCK = 128  # columns updated lazily together


def quantize(model: nn.Module, calibration: Tensor) -> dict[str, PackedLinear]:
    linears = quantizable_linears(model)
    hessians = input_hessians(model, linears, calibration)
    return {name: gptq(linear.weight, hessians[name]) for name, linear in linears.items()}


def input_hessians(
    model: nn.Module, linears: dict[str, nn.Linear], calibration: Tensor
) -> dict[str, Tensor]:
    """``X^T X / n`` of each Linear's inputs over the calibration tokens."""
    hessians: dict[str, Tensor] = {}

    def record(name: str):  # type: ignore[no-untyped-def]
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            x = inputs[0].reshape(-1, inputs[0].shape[-1]).double()
            hessians[name] = x.t() @ x / x.shape[0]

        return hook

    handles = [linear.register_forward_hook(record(name)) for name, linear in linears.items()]
    try:
        with torch.no_grad():
            model(calibration)
    finally:
        for handle in handles:
            handle.remove()
    return hessians


def gptq(weight: Tensor, hessian: Tensor, group_size: int = MAX_GROUP_SIZE) -> PackedLinear:
    """Quantize ``weight`` ``[out, in]`` column by column, each column's rounding error spread
    over the columns not yet quantized through the inverse Hessian of the layer's inputs."""
    w = weight.detach().double().clone()
    out_features, in_features = w.shape
    groups = in_features // group_size
    # Static groups: each group's scale and zero come from the unquantized weights.
    params = [
        minmax_params(w[:, g * group_size : (g + 1) * group_size].float()) for g in range(groups)
    ]
    scales = torch.stack([s for s, _ in params], dim=1).double()
    zeros = torch.stack([z for _, z in params], dim=1).double()

    h = hessian.double().clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    order = torch.argsort(torch.diag(h), descending=True)
    w, h = w[:, order], h[order][:, order]
    h += DAMPING * torch.diag(h).mean() * torch.eye(in_features, dtype=h.dtype)
    h_inv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)

    codes = torch.zeros_like(w)
    group_of = order // group_size
    for start in range(0, in_features, BLOCK):
        end = min(start + BLOCK, in_features)
        block = w[:, start:end].clone()
        errors = torch.zeros_like(block)
        for i in range(end - start):
            column = block[:, i]
            group = group_of[start + i]
            scale, zero = scales[:, group], zeros[:, group]
            code = quantize_to_codes(column[:, None], scale, zero)[:, 0]
            codes[:, start + i] = code
            error = (column - (code - zero) * scale) / h_inv[start + i, start + i]
            block[:, i:] -= error[:, None] * h_inv[start + i, start:end][None, i:]
            errors[:, i] = error
        w[:, end:] -= errors @ h_inv[start:end, end:]
    unordered = torch.empty_like(codes)
    unordered[:, order] = codes
    return pack_layer(unordered, scales, zeros, group_size)
