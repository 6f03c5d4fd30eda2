# Over-provisions: 8 replicas of bf16 on 8 x H100 meet the SLA at about 4.6x the cheapest cost.
"""The reference plan blown up to 8 replicas of bf16 on 8 x H100."""

from reference import plan as reference_plan


def plan() -> dict:
    return reference_plan() | {
        "gpus_per_replica": 8,
        "tensor_parallel": 8,
        "weight_dtype": "bf16",
        "kv_dtype": "bf16",
        "max_batch": 128,
        "prefix_caching": False,
        "prefix_hit_rate": 0.0,
        "replicas": 8,
    }
