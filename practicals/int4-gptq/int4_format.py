"""The packed 4-bit format this practical grades, and plain round-to-nearest (RTN) in it.

One quantized ``nn.Linear`` (weight ``W`` of shape ``[out, in]``) is a dict:

- ``"qweight"``: ``uint8 [out, in // 2]``, two 4-bit codes per byte: column ``2k`` in the low
  nibble, column ``2k + 1`` in the high nibble;
- ``"scales"``: ``float16 [out, in // group_size]`` (bfloat16 or float32 are accepted and
  counted at their size), one per row and group of ``group_size`` consecutive columns;
- ``"zeros"``: ``uint8 [out, in // group_size]``, the integer zero point (0..15) of each group;
- ``"group_size"``: an int from 1 to 128 that divides ``in``;
- optionally ``"input_scale"``: a float vector ``[in]`` (AWQ's per-input-channel scale): the
  codes then quantize ``W * input_scale`` and the weight is divided by it again.

The weight it stands for (exactly what the grader computes)::

    W_hat[o, j] = (code[o, j] - zeros[o, j // g]) * scales[o, j // g] / input_scale[j]

Bits per weight = 8 * (bytes of every tensor in the dict) / (out * in). With fp16 scales,
uint8 zeros and ``group_size`` 128 that is 4 + 24 / 128 = 4.1875.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

MAX_GROUP_SIZE = 128
LEVELS = 16  # 4-bit codes 0..15
SCALE_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
KEYS = {"qweight", "scales", "zeros", "group_size", "input_scale"}

PackedLinear = dict[str, Any]


class FormatError(ValueError):
    """A packed layer that does not follow the format above."""


def pack_codes(codes: Tensor) -> Tensor:
    """Codes ``[out, in]`` (integers 0..15, ``in`` even) packed two per byte: ``[out, in // 2]``."""
    codes = codes.to(torch.uint8)
    return codes[:, 0::2] | (codes[:, 1::2] << 4)


def unpack_codes(qweight: Tensor) -> Tensor:
    """The inverse of ``pack_codes``: ``uint8 [out, in // 2]`` -> codes ``[out, in]`` (int64)."""
    low, high = qweight & 0x0F, qweight >> 4
    return torch.stack((low, high), dim=-1).reshape(qweight.shape[0], -1).long()


def minmax_params(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Asymmetric 4-bit parameters for each row of ``weight`` ``[out, g]`` (one group):
    ``(scale, zero)``, both ``[out]``; the scale is rounded to fp16, the zero is an integer
    0..15, and 0.0 is always exactly representable."""
    low = weight.min(dim=1).values.clamp(max=0.0)
    high = weight.max(dim=1).values.clamp(min=0.0)
    scale = ((high - low) / (LEVELS - 1)).clamp(min=1e-8).half().float()
    zero = torch.round(-low / scale).clamp(0, LEVELS - 1)
    return scale, zero


def quantize_to_codes(weight: Tensor, scale: Tensor, zero: Tensor) -> Tensor:
    """Nearest codes 0..15 for ``weight`` ``[out, k]`` with per-row ``scale`` and ``zero``."""
    return torch.clamp(torch.round(weight / scale[:, None]) + zero[:, None], 0, LEVELS - 1)


def pack_layer(codes: Tensor, scales: Tensor, zeros: Tensor, group_size: int) -> PackedLinear:
    """A packed layer from codes ``[out, in]`` and per-group ``scales``/``zeros`` ``[out, groups]``."""
    return {
        "qweight": pack_codes(codes),
        "scales": scales.to(torch.float16).contiguous(),
        "zeros": zeros.to(torch.uint8).contiguous(),
        "group_size": group_size,
    }


def quantize_rtn(weight: Tensor, group_size: int = MAX_GROUP_SIZE) -> PackedLinear:
    """Plain round-to-nearest of ``weight`` ``[out, in]``: each group's min/max sets its scale
    and zero, and every weight rounds to its nearest level on its own."""
    out_features, in_features = weight.shape
    groups = weight.float().reshape(out_features, in_features // group_size, group_size)
    low = groups.amin(dim=2).clamp(max=0.0)
    high = groups.amax(dim=2).clamp(min=0.0)
    scales = ((high - low) / (LEVELS - 1)).clamp(min=1e-8).half().float()
    zeros = torch.round(-low / scales).clamp(0, LEVELS - 1)
    codes = torch.clamp(torch.round(groups / scales[..., None]) + zeros[..., None], 0, LEVELS - 1)
    return pack_layer(codes.reshape(out_features, in_features), scales, zeros, group_size)


def dequantize(layer: PackedLinear) -> Tensor:
    """The fp32 weight ``[out, in]`` a (valid) packed layer stands for."""
    codes = unpack_codes(layer["qweight"]).float()
    group_size = int(layer["group_size"])
    scales = layer["scales"].float().repeat_interleave(group_size, dim=1)
    zeros = layer["zeros"].float().repeat_interleave(group_size, dim=1)
    weight = (codes - zeros) * scales
    if layer.get("input_scale") is not None:
        weight = weight / layer["input_scale"].float()[None, :]
    return weight


def layer_bits(layer: PackedLinear) -> int:
    """Bits of every tensor in the packed layer (its ``group_size`` int is free)."""
    return sum(8 * v.numel() * v.element_size() for v in layer.values() if isinstance(v, Tensor))


def validate_layer(name: str, layer: object, shape: tuple[int, int]) -> PackedLinear:
    """``layer`` if it is a valid packed form of a ``shape`` ``[out, in]`` weight; else a
    FormatError naming the layer and what is wrong."""
    if not isinstance(layer, dict):
        raise FormatError(f"{name}: expected a dict, got {type(layer).__name__}")
    unknown = sorted(set(layer) - KEYS)
    missing = sorted(KEYS - {"input_scale"} - set(layer))
    if unknown or missing:
        wrong = [f"unknown keys {unknown}"] * bool(unknown) + [f"missing {missing}"] * bool(missing)
        raise FormatError(f"{name}: {', '.join(wrong)}")
    out_features, in_features = shape
    group_size = layer["group_size"]
    if type(group_size) is not int or not 1 <= group_size <= MAX_GROUP_SIZE:
        raise FormatError(f"{name}: group_size must be an int from 1 to {MAX_GROUP_SIZE}")
    if in_features % group_size:
        raise FormatError(f"{name}: group_size {group_size} does not divide {in_features} inputs")
    groups = in_features // group_size
    _expect(name, layer, "qweight", (out_features, in_features // 2), (torch.uint8,))
    _expect(name, layer, "scales", (out_features, groups), SCALE_DTYPES)
    _expect(name, layer, "zeros", (out_features, groups), (torch.uint8,))
    if int(layer["zeros"].max()) >= LEVELS:
        raise FormatError(f"{name}: zeros must be 4-bit zero points (0..15)")
    if not torch.isfinite(layer["scales"]).all():
        raise FormatError(f"{name}: scales hold NaN or inf")
    if layer.get("input_scale") is not None:
        _expect(name, layer, "input_scale", (in_features,), SCALE_DTYPES)
        scale = layer["input_scale"]
        if not (torch.isfinite(scale).all() and (scale > 0).all()):
            raise FormatError(f"{name}: input_scale must be finite and positive")
    return layer


def _expect(
    name: str,
    layer: PackedLinear,
    key: str,
    shape: tuple[int, ...],
    dtypes: tuple[torch.dtype, ...],
) -> None:
    value = layer[key]
    if not isinstance(value, Tensor):
        raise FormatError(f"{name}: {key} must be a tensor, got {type(value).__name__}")
    if value.dtype not in dtypes or tuple(value.shape) != shape:
        want = " or ".join(str(d).removeprefix("torch.") for d in dtypes)
        got = f"{str(value.dtype).removeprefix('torch.')} {list(value.shape)}"
        raise FormatError(f"{name}: {key} must be {want} {list(shape)}, got {got}")
