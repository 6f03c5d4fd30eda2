"""The baseline the grader times against: the eager decode step, launched kernel by kernel."""

from collections.abc import Callable

import torch
from decode_step import DecodeStep


def capture(step: DecodeStep) -> Callable[[], torch.Tensor]:
    return step
