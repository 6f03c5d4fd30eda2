# Asks for fp8 weights on A100s, which have no fp8 tensor cores: the plan is invalid.
"""The reference plan moved to A100s, keeping fp8."""

from reference import plan as reference_plan


def plan() -> dict:
    return reference_plan() | {"gpu": "A100_80GB_SXM"}
