"""int8 post-training quantization of a small transformer LM (practical int8-ptq).

Write ``quantize(model)``: return a model that computes the same next-token logits as ``model``
(``[batch, seq]`` token ids -> ``[batch, seq, vocab]`` fp32 logits) with its Linear layers in
int8. ``python solution.py`` runs a quick local check; the grader is the judge.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from quiz.lab.tinylm import TinyLM, tensor_bytes


def quantize(model: TinyLM) -> nn.Module:
    """Return ``model`` with every nn.Linear replaced by an int8 version (you may edit in place)."""
    # TODO: per-channel symmetric int8 weights, and an int8 GEMM at run time.
    return model


if __name__ == "__main__":
    from int8_model import EVAL_SHAPE, TIMING_SHAPE, build_model, token_batch

    fp32 = build_model()
    quantized = quantize(copy.deepcopy(fp32))
    with torch.inference_mode():
        tokens = token_batch(1, EVAL_SHAPE)
        expected, actual = fp32(tokens), quantized(tokens)
        agree = (actual.argmax(-1) == expected.argmax(-1)).float().mean().item()
        error = ((actual - expected).norm() / expected.norm()).item()
        batch = token_batch(2, TIMING_SHAPE)
        times = {}
        for name, model in (("fp32", fp32), ("quantized", quantized)):
            model(batch)
            start = time.perf_counter()
            for _ in range(5):
                model(batch)
            times[name] = (time.perf_counter() - start) / 5
    print(f"bytes ratio {tensor_bytes(quantized) / tensor_bytes(fp32):.3f}")
    print(f"top-1 agreement {agree:.4f}, logits relative error {error:.4f}")
    print(f"fp32 {times['fp32'] * 1e3:.1f} ms, quantized {times['quantized'] * 1e3:.1f} ms")
