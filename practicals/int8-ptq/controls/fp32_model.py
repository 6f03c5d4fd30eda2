# Returns the fp32 model unchanged: the right logits, but nothing is smaller or faster.
from __future__ import annotations

from torch import nn


def quantize(model: nn.Module) -> nn.Module:
    return model
