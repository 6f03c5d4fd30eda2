# Too few replicas: 2 x TP4 cannot keep up with 30 requests/s, so the queue grows without bound.
"""The reference plan with half the replicas."""

from reference import plan as reference_plan


def plan() -> dict:
    return reference_plan() | {"replicas": 2}
