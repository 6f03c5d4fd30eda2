# Copies a good plan but justifies none of its choices.
"""Numbers without reasons."""

import yaml

PLAN = """
gpu: H100_SXM
gpus_per_replica: 4
tensor_parallel: 4
pipeline_parallel: 1
weight_dtype: fp8
kv_dtype: fp8
max_batch: 64
prefix_caching: true
prefix_hit_rate: 0.43
replicas: 4
justification:
  gpu: TODO
  parallelism: TODO
  dtypes: TODO
  max_batch: TODO
  prefix_caching: TODO
  replicas: TODO
"""


def plan() -> dict:
    return yaml.safe_load(PLAN)
