# 70B in bf16 is 141 GB: it does not fit 2 x H100 (144 GB usable) with any room for the KV cache.
"""The reference plan squeezed onto 2 x H100 in bf16."""

from reference import plan as reference_plan


def plan() -> dict:
    return reference_plan() | {
        "gpus_per_replica": 2,
        "tensor_parallel": 2,
        "weight_dtype": "bf16",
        "kv_dtype": "bf16",
        "replicas": 10,
    }
