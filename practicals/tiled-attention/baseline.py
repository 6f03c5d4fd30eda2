"""The grader's baseline: naive attention that materialises the whole score matrix."""

from attention_task import naive_attention as attention

__all__ = ["attention"]
