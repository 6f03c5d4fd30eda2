"""The baseline the grader times against: greedy decoding by full recompute (trusted code)."""

from __future__ import annotations

from torch import Tensor

from quiz.lab.tinylm import TinyLM, generate_full_recompute


def generate(model: TinyLM, prompt: Tensor, max_new_tokens: int) -> tuple[Tensor, None]:
    return generate_full_recompute(model, prompt, max_new_tokens), None
