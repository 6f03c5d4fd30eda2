"""Reading a submitted plan (the mapping ``solution.plan()`` returns, usually plan.yaml)."""

from __future__ import annotations

import re
from typing import Any

from capacity_model import (
    GPUS_PER_NODE,
    KV_DTYPES,
    PP_DEGREES,
    TP_DEGREES,
    WEIGHT_DTYPES,
    Model,
    Plan,
)

JUSTIFIED_CHOICES = ("gpu", "parallelism", "dtypes", "max_batch", "prefix_caching", "replicas")
_FIELDS = {
    "gpu",
    "gpus_per_replica",
    "tensor_parallel",
    "pipeline_parallel",
    "weight_dtype",
    "kv_dtype",
    "max_batch",
    "prefix_caching",
    "prefix_hit_rate",
    "replicas",
    "justification",
}


class PlanError(ValueError):
    """The plan cannot be evaluated; the message says which field and why, in one line."""


def parse_plan(data: Any, model: Model) -> Plan:
    if not isinstance(data, dict):
        raise PlanError(f"the plan must be a mapping of fields, got {type(data).__name__}")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise PlanError(f"unknown field(s): {', '.join(unknown)}")
    missing = sorted(_FIELDS - {"justification"} - set(data))
    if missing:
        raise PlanError(f"missing field(s): {', '.join(missing)}")
    gpu = _choice(data, "gpu", model.gpus)
    tp = _choice(data, "tensor_parallel", TP_DEGREES, _integer(data, "tensor_parallel", 1))
    pp = _choice(data, "pipeline_parallel", PP_DEGREES, _integer(data, "pipeline_parallel", 1))
    if tp * pp > GPUS_PER_NODE:
        raise PlanError(
            f"tensor_parallel x pipeline_parallel = {tp * pp} GPUs; a replica must fit one "
            f"{GPUS_PER_NODE}-GPU NVLink node"
        )
    if _integer(data, "gpus_per_replica", 1) != tp * pp:
        raise PlanError(
            f"gpus_per_replica is {data['gpus_per_replica']} but tensor_parallel x "
            f"pipeline_parallel = {tp * pp}"
        )
    weight_dtype = _choice(data, "weight_dtype", WEIGHT_DTYPES)
    if weight_dtype == "fp8" and model.gpus[gpu].fp8_flops is None:
        raise PlanError(f"weight_dtype fp8 needs fp8 tensor cores, which {gpu} does not have")
    kv_dtype = _choice(data, "kv_dtype", KV_DTYPES)
    caching = data["prefix_caching"]
    if not isinstance(caching, bool):
        raise PlanError("prefix_caching must be true or false")
    hit = data["prefix_hit_rate"]
    if isinstance(hit, bool) or not isinstance(hit, int | float) or not 0 <= hit <= 1:
        raise PlanError("prefix_hit_rate must be a number between 0 and 1 (0 without caching)")
    if not caching and hit > 0:
        raise PlanError("prefix_hit_rate must be 0 when prefix_caching is false")
    return Plan(
        gpu=gpu,
        tensor_parallel=tp,
        pipeline_parallel=pp,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        max_batch=_integer(data, "max_batch", 1),
        prefix_caching=caching,
        prefix_hit_rate=float(hit),
        replicas=_integer(data, "replicas", 1),
    )


def unjustified(data: dict[str, Any], min_words: int) -> list[str]:
    """The choices whose written justification is missing, shorter than ``min_words`` or
    without a single number (the README asks for the figures behind each choice)."""
    notes = data.get("justification")
    if not isinstance(notes, dict):
        return list(JUSTIFIED_CHOICES)
    short = []
    for choice in JUSTIFIED_CHOICES:
        text = str(notes.get(choice) or "")
        words = text.split()
        if len(words) < min_words or "TODO" in words or not re.search(r"\d", text):
            short.append(choice)
    return short


def _choice(data: dict[str, Any], name: str, allowed: Any, value: Any = None) -> Any:
    value = data[name] if value is None else value
    if not isinstance(value, str | int) or value not in allowed:
        options = ", ".join(str(a) for a in allowed)
        raise PlanError(f"{name} must be one of {options}; got {value!r}")
    return value


def _integer(data: dict[str, Any], name: str, minimum: int) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PlanError(f"{name} must be a whole number >= {minimum}; got {value!r}")
    return value
