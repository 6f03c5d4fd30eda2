"""Grades int4-gptq: sends a calibration set to the submission's ``quantize``, then, from the
packed layers that come back, counts the bits itself, dequantizes them itself and scores the
model on held-out text the submission never sees, against plain round-to-nearest at the same
group sizes computed here in the same run."""

from __future__ import annotations

import hashlib
import time

import torch
from int4_format import (
    FormatError,
    PackedLinear,
    dequantize,
    layer_bits,
    quantize_rtn,
    validate_layer,
)
from int4_model import (
    CALIBRATION_SHAPE,
    HELD_OUT_SHAPE,
    build_model,
    next_token_kl,
    quantizable_linears,
    sample_text,
    with_weights,
)
from torch import Tensor

from quiz.lab.api import Check, GradeContext
from quiz.lab.tinylm import TinyLM

QUANTIZE_TIMEOUT_S = 45.0
OUTLIER_SHARE = 0.02  # "the largest activations": this share of each layer's input channels


def grade(ctx: GradeContext) -> list[Check]:
    ctx.log("building the fp32 model and sampling calibration and held-out text from it")
    model = build_model()
    calibration = sample_text(model, derived_seed(ctx.seed, "calibration"), CALIBRATION_SHAPE)
    held_out = sample_text(model, derived_seed(ctx.seed, "held-out"), HELD_OUT_SHAPE)
    candidate = ctx.start_contestant("int4_model:serve")
    ctx.log(f"calling your quantize(model, calibration) with {list(calibration.shape)} tokens")
    start = time.perf_counter()
    packed = candidate.call("quantize", calibration, timeout_s=QUANTIZE_TIMEOUT_S)
    ctx.details["start_and_quantize_s"] = round(time.perf_counter() - start, 2)
    ctx.log("counting bits, dequantizing your layers and scoring them on held-out text")
    checks, details = score(model, packed, held_out, ctx.thresholds)
    ctx.details.update(details)
    return checks


def derived_seed(seed: int, purpose: str) -> int:
    """A seed for ``purpose`` that says nothing about the others: torch's CPU generator keeps
    only 32 bits of a seed, so seeds related by XOR would let the calibration text (which the
    submission sees) give away the held-out text's seed."""
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def score(
    model: TinyLM, packed: object, held_out: Tensor, thresholds: dict[str, float]
) -> tuple[list[Check], dict[str, object]]:
    """The checks (format, bits, quality) of the packed layers ``packed`` for ``model``."""
    linears = quantizable_linears(model)
    try:
        layers = _validated(
            packed, {name: tuple(lin.weight.shape) for name, lin in linears.items()}
        )
        weights = {name: dequantize(layer) for name, layer in layers.items()}
        bad = [name for name, weight in weights.items() if not torch.isfinite(weight).all()]
        if bad:
            raise FormatError(f"{bad[0]}: the dequantized weight has NaN or inf")
    except FormatError as err:
        return [Check("packed format", False, message=str(err))], {}
    format_check = Check("packed format", True, len(layers), len(linears), "layers")
    bits_check, bits_details = _bits_check(layers, linears, thresholds["max_bits_per_weight"])
    quality_check, quality_details = _quality_check(model, layers, weights, held_out, thresholds)
    return [format_check, bits_check, quality_check], {**bits_details, **quality_details}


def _validated(packed: object, shapes: dict[str, tuple[int, int]]) -> dict[str, PackedLinear]:
    if not isinstance(packed, dict):
        raise FormatError(
            f"quantize() must return a dict of packed layers, got {type(packed).__name__}"
        )
    missing = sorted(set(shapes) - set(packed))
    unknown = sorted(set(packed) - set(shapes))
    if missing or unknown:
        raise FormatError(
            f"expected the {len(shapes)} Linear layers of quantizable_linears(model); "
            f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, unknown {unknown[:3]}"
        )
    return {name: validate_layer(name, packed[name], shapes[name]) for name in shapes}


def _bits_check(
    layers: dict[str, PackedLinear], linears: dict[str, torch.nn.Linear], limit: float
) -> tuple[Check, dict[str, object]]:
    weights = {name: linear.weight.numel() for name, linear in linears.items()}
    per_key: dict[str, int] = {}
    for layer in layers.values():
        for key, value in layer.items():
            if isinstance(value, Tensor):
                per_key[key] = per_key.get(key, 0) + 8 * value.numel() * value.element_size()
    total_weights = sum(weights.values())
    bits = sum(per_key.values()) / total_weights
    per_layer = {name: layer_bits(layer) / weights[name] for name, layer in layers.items()}
    worst = max(per_layer, key=per_layer.__getitem__)
    parts = ", ".join(f"{key} {n / total_weights:.3f}" for key, n in per_key.items())
    message = (
        f"{bits:.3f} bits per weight over {total_weights:,} weights ({parts}); "
        f"most in {worst}: {per_layer[worst]:.3f}"
    )
    details = {
        "bits_per_weight": round(bits, 4),
        "bits_by_layer": {k: round(v, 4) for k, v in per_layer.items()},
    }
    return Check("bits per weight", bits <= limit, round(bits, 4), limit, "bits", message), details


def _quality_check(
    model: TinyLM,
    layers: dict[str, PackedLinear],
    weights: dict[str, Tensor],
    held_out: Tensor,
    thresholds: dict[str, float],
) -> tuple[Check, dict[str, object]]:
    linears = quantizable_linears(model)
    rtn = {
        name: dequantize(quantize_rtn(linears[name].weight, int(layer["group_size"])))
        for name, layer in layers.items()
    }
    inputs = _layer_inputs(model, held_out)
    with torch.inference_mode():
        reference = model(held_out)
        kl = next_token_kl(reference, with_weights(build_model(), weights)(held_out))
        kl_rtn = next_token_kl(reference, with_weights(build_model(), rtn)(held_out))
    ratio = kl / kl_rtn if kl_rtn > 0 else float("inf")
    limit = thresholds["max_kl_vs_rtn"]
    passed = bool(torch.isfinite(torch.tensor(kl))) and ratio <= limit
    outlier_share = _outlier_error_share(linears, weights, inputs)
    message = (
        f"mean KL(fp32 || yours) of the next-token distribution at {held_out.numel():,} held-out "
        f"positions: {kl:.4f} nats; plain round-to-nearest at your group sizes: {kl_rtn:.4f} "
        f"nats; yours is {ratio:.2f}x that"
    )
    if not passed:
        message += (
            f". Of your weight error, weighted by each input channel's activation energy, "
            f"{outlier_share:.0%} sits in the {OUTLIER_SHARE:.0%} of input channels with the "
            f"largest activations"
        )
    details = {
        "kl_nats": round(kl, 5),
        "kl_rtn_nats": round(kl_rtn, 5),
        "layer_output_error": _output_error(linears, weights, inputs),
        "layer_output_error_rtn": _output_error(linears, rtn, inputs),
        "outlier_error_share": round(outlier_share, 3),
        "headline": {"name": "KL vs round-to-nearest", "value": round(ratio, 3), "unit": "x RTN"},
    }
    return Check(
        "KL vs round-to-nearest", passed, round(ratio, 3), limit, "x RTN", message
    ), details


def _layer_inputs(model: TinyLM, tokens: Tensor) -> dict[str, Tensor]:
    """Each quantized Linear's inputs ``[tokens, in]`` in the fp32 model on ``tokens``."""
    inputs: dict[str, Tensor] = {}
    linears = quantizable_linears(model)
    handles = [
        linear.register_forward_hook(
            lambda _m, args, _out, name=name: inputs.__setitem__(name, args[0].flatten(0, -2))
        )
        for name, linear in linears.items()
    ]
    try:
        with torch.inference_mode():
            model(tokens)
    finally:
        for handle in handles:
            handle.remove()
    return inputs


def _output_error(
    linears: dict[str, torch.nn.Linear], weights: dict[str, Tensor], inputs: dict[str, Tensor]
) -> float:
    """Mean over layers of ||X (W_hat - W)^T|| / ||X W^T|| on the held-out inputs."""
    errors = [
        (
            (inputs[name] @ (weights[name] - linear.weight).t()).norm()
            / (inputs[name] @ linear.weight.t()).norm()
        ).item()
        for name, linear in linears.items()
    ]
    return round(sum(errors) / len(errors), 5)


def _outlier_error_share(
    linears: dict[str, torch.nn.Linear], weights: dict[str, Tensor], inputs: dict[str, Tensor]
) -> float:
    """The share of the activation-weighted squared weight error (sum over layers and input
    channels of E[x_j^2] * ||W_hat[:, j] - W[:, j]||^2) in each layer's top input channels."""
    total = top = 0.0
    for name, linear in linears.items():
        energy = inputs[name].pow(2).mean(0)
        error = energy * (weights[name] - linear.weight).pow(2).sum(0)
        k = max(1, round(OUTLIER_SHARE * energy.numel()))
        total += error.sum().item()
        top += error[energy.topk(k).indices].sum().item()
    return top / total if total > 0 else 0.0
