# Captures a second step with its own buffers: replays ignore the inputs written to the step given.
"""A graph that never sees new tokens or positions."""

from decode_step import DecodeStep
from reference import capture as capture_step


def capture(step: DecodeStep):
    private = DecodeStep(step.model, step.tokens.shape[0], step.tokens.device)
    return capture_step(private)
