"""The baseline the grader times against: the fp32 model, unquantized (trusted code)."""

from __future__ import annotations

from torch import nn


def quantize(model: nn.Module) -> nn.Module:
    return model
