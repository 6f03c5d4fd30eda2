# GPTQ done right, but calibrated on one 8-token snippet instead of the whole calibration set:
# an 8-sample Hessian fits those tokens and spreads the rounding error in directions held-out
# text uses. The quality check must catch it.
"""Control for int4-gptq: GPTQ on far too little calibration data."""

from __future__ import annotations

import torch
from int4_format import PackedLinear, minmax_params, pack_layer, quantize_to_codes
from int4_model import quantizable_linears
from torch import Tensor, nn

SNIPPET_TOKENS = 8
GROUP_SIZE = 128


def quantize(model: nn.Module, calibration: Tensor) -> dict[str, PackedLinear]:
    linears = quantizable_linears(model)
    inputs: dict[str, Tensor] = {}
    handles = [
        linear.register_forward_hook(
            lambda _m, args, _out, name=name: inputs.__setitem__(name, args[0].flatten(0, -2))
        )
        for name, linear in linears.items()
    ]
    model(calibration[:1, :SNIPPET_TOKENS])
    for handle in handles:
        handle.remove()
    return {name: _gptq(linear.weight, inputs[name].double()) for name, linear in linears.items()}


def _gptq(weight: Tensor, x: Tensor) -> PackedLinear:
    w = weight.double().clone()
    columns = w.shape[1]
    h = x.t() @ x / x.shape[0]
    h += 0.01 * torch.diag(h).mean() * torch.eye(columns, dtype=h.dtype)
    h_inv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    codes, scales, zeros = torch.zeros_like(w), [], []
    for j in range(columns):
        if j % GROUP_SIZE == 0:
            scale, zero = (p.double() for p in minmax_params(w[:, j : j + GROUP_SIZE].float()))
            scales.append(scale)
            zeros.append(zero)
        codes[:, j] = quantize_to_codes(w[:, j : j + 1], scale, zero)[:, 0]
        error = (w[:, j] - (codes[:, j] - zero) * scale) / h_inv[j, j]
        w[:, j:] -= error[:, None] * h_inv[j, j:][None, :]
    return pack_layer(codes, torch.stack(scales, 1), torch.stack(zeros, 1), GROUP_SIZE)
