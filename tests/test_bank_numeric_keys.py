"""Numeric keys recomputed from first principles, independently of the YAML formulas.

Every numeric or estimate question in the KV-cache, weight-memory and decode-bound families
(found by skill) must have a check below; each check rebuilds the key from the instance's
parameters and the shared facts file, for seeds 0..30. Named choices that stand for a GPU, a
model or a price must carry exactly the facts file's number, and the fixed numbers that prompts
quote from the facts file must match it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from quiz import config
from quiz.bank import NumericKey, instantiate, load_bank

SEEDS = range(31)
FAMILY_SKILLS = frozenset({"kv-cache-sizing", "kv-cache", "weight-memory", "memory-bound-decode"})
RELATIVE = 1e-4  # far below every question's tolerance; covers keys rounded from the facts

FACTS: dict[str, Any] = yaml.safe_load(config.facts_path().read_text(encoding="utf-8"))
BANK = load_bank()

# One unit of each key unit, in the base unit of its dimension. Written out here rather than
# taken from quiz.units, so that a wrong conversion there cannot hide a wrong key.
UNIT_SCALE = {
    "B": 1.0,
    "KiB": 2.0**10,
    "MiB": 2.0**20,
    "GiB": 2.0**30,
    "GB": 1e9,
    "TB/s": 1e12,
    "s": 1.0,
    "ms": 1e-3,
    "FLOP/s": 1.0,
    "TFLOP/s": 1e12,
    "tokens": 1.0,
    "tokens/s": 1.0,
    "count": 1.0,
    "GPUs": 1.0,
    "x": 1.0,
    "%": 1.0,
    "": 1.0,
    "USD": 1.0,
    "USD/h": 1.0,
}
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
GPU_KEYS = {
    "A100 40GB SXM": "A100_40GB_SXM",
    "A100 80GB SXM": "A100_80GB_SXM",
    "H100 SXM": "H100_SXM",
    "H200 SXM": "H200_SXM",
    "L40S": "L40S",
    "MI300X": "MI300X",
}

Params = dict[str, Any]


# --- facts ---------------------------------------------------------------------------------------


def gpu_fact(name: str, field: str) -> float:
    """A GPU figure from the facts file; field "ridge" is its dense BF16 ridge point."""
    gpus = FACTS["gpus"]
    if field == "ridge":
        return float(gpus["ridge_points_bf16_dense_flop_per_byte"][GPU_KEYS[name]])
    return float(gpus[GPU_KEYS[name]][field])


def reported_bytes(name: str) -> float:
    """The memory the driver reports for a GPU (its HBM label is close to GiB, not 10^9 B)."""
    key = {"H100 SXM": "H100_SXM_80GB", "H200 SXM": "H200_SXM_141GB"}[name]
    return float(FACTS["gpus"]["hbm_capacity_as_seen"][key]["bytes"])


def model_fact(name: str, field: str = "total_params") -> int:
    return int(FACTS["models"][name][field])


def price(provider: str, **match: str) -> dict[str, Any]:
    """The one price entry of ``provider`` whose fields contain every ``match`` substring."""
    entries = [
        e for e in FACTS["prices"][provider] if all(v in str(e.get(k)) for k, v in match.items())
    ]
    assert len(entries) == 1, f"{provider} {match}: {entries}"
    return entries[0]


P5_NODE_HOUR = price("aws", instance="p5.48xlarge", as_of="June 2025")["usd_per_hour"]
P5_GPU_HOUR = price("aws", instance="p5.48xlarge", as_of="June 2025")["usd_per_gpu_hour"]
P4D_NODE_HOUR = price("aws", instance="p4d.24xlarge", as_of="2026-11-09")["usd_per_hour"]
LAMBDA_H100_GPU_HOUR = price("lambda", offer="8x H100 SXM")["usd_per_gpu_hour"]


# --- the quantities, from first principles --------------------------------------------------------


def kv_bytes_per_token(layers: float, kv_heads: float, head_dim: float, elem_bytes: float) -> float:
    """One K and one V vector per layer and per KV head."""
    return 2 * layers * kv_heads * head_dim * elem_bytes


def model_kv_bytes_per_token(model: str, elem_bytes: float = 2) -> float:
    m = FACTS["models"][model]
    return kv_bytes_per_token(
        m["num_hidden_layers"], m["num_key_value_heads"], m["head_dim"], elem_bytes
    )


def decode_tokens_per_s(bandwidth_b_per_s: float, bytes_per_step: float) -> float:
    """Memory-bound decode: a step cannot be faster than reading its bytes once."""
    return bandwidth_b_per_s / bytes_per_step


def expected_tokens_per_step(alpha: float, gamma: int) -> float:
    """Accepted run 1 + alpha + ... + alpha^gamma: token k needs all k drafts accepted."""
    return sum(alpha**k for k in range(gamma + 1))


# --- reading instance parameters, checking them against the facts --------------------------------


def element_bytes(params: Params, name: str) -> float:
    """A named dtype choice's bytes, checked against the format's real width."""
    label = str(params[f"{name}_name"]).split()[0].lower()
    assert params[name] == BYTES_PER_ELEMENT[label], f"{name} {label!r} is {params[name]} bytes"
    return BYTES_PER_ELEMENT[label]


def gpu(params: Params, field: str, name: str = "gpu") -> float:
    """A named GPU choice's value, which must be the facts file's ``field`` for that GPU."""
    label = params[f"{name}_name"]
    value = gpu_fact(label, field)
    assert params[name] == value, f"{label}: {params[name]} != facts {field} {value}"
    return value


def model(params: Params, name: str = "model") -> int:
    """A named model choice's parameter count, which must be the facts file's total_params."""
    label = params[f"{name}_name"]
    total = model_fact(label)
    assert params[name] == total, f"{label}: {params[name]} != facts total_params {total}"
    return total


# --- one check per question: the key in base units (B, s, tokens/s, FLOP/s, USD ...) -------------


def kv_max_sequences_fit(p: Params) -> float:
    budget = p["util"] * gpu(p, "memory_gb") * 1e9
    weights = model_fact("Llama-3-8B") * BYTES_PER_ELEMENT["bf16"]
    return math.floor((budget - weights) / (model_kv_bytes_per_token("Llama-3-8B") * p["seq_len"]))


def kv_tokens_per_gpu_under_tp(p: Params) -> float:
    free_per_gpu = 0.9 * reported_bytes(p["gpu_name"]) - model_fact("Llama-3-70B") * 2 / p["tp"]
    m = FACTS["models"]["Llama-3-70B"]
    heads_per_gpu = m["num_key_value_heads"] / p["tp"]
    per_token_per_gpu = kv_bytes_per_token(m["num_hidden_layers"], heads_per_gpu, m["head_dim"], 2)
    return free_per_gpu / per_token_per_gpu


def min_tp_for_70b_kv(p: Params) -> float:
    needed = model_fact("Llama-3-70B") * 2 + (
        p["concurrency"] * p["seq_len"] * model_kv_bytes_per_token("Llama-3-70B")
    )
    usable = 0.9 * reported_bytes(p["gpu_name"])
    kv_heads = model_fact("Llama-3-70B", "num_key_value_heads")
    return next(tp for tp in (1, 2, 4, 8) if kv_heads % tp == 0 and tp * usable >= needed)


def launch_overhead_decode(p: Params) -> float:
    layers = model_fact("Llama-3-8B", "num_hidden_layers")
    cpu_s = layers * p["kernels"] * p["launch_us"] * 1e-6
    gpu_s = model_fact("Llama-3-8B") * 2 / (gpu_fact("H100 SXM", "memory_bw_tbs") * 1e12)
    return 1 / max(cpu_s, gpu_s)


def decode_batch_throughput(p: Params) -> float:
    step_bytes = model_fact("Llama-3-8B") * 2 + (
        p["batch"] * p["ctx"] * model_kv_bytes_per_token("Llama-3-8B")
    )
    bandwidth = gpu_fact("H100 SXM", "memory_bw_tbs") * 1e12
    return p["batch"] * decode_tokens_per_s(bandwidth, step_bytes)


def batch1_cost_ratio_p5_vs_p4d(_: Params) -> float:
    p5_bandwidth = 8 * gpu_fact("H100 SXM", "memory_bw_tbs")
    p4d_bandwidth = 8 * gpu_fact("A100 40GB SXM", "memory_bw_tbs")
    return (P5_NODE_HOUR / p5_bandwidth) / (P4D_NODE_HOUR / p4d_bandwidth)


def replicas_and_cost_per_hour(p: Params) -> float:
    assert any(math.isclose(p["price"], fact) for fact in (LAMBDA_H100_GPU_HOUR, P5_GPU_HOUR))
    replicas = math.ceil(p["rps"] * p["out_tokens"] / p["replica_tps"]) + 1
    return replicas * 8 * p["price"]


def cost_per_million_at_average_load(p: Params) -> float:
    assert any(math.isclose(p["price"], fact) for fact in (8 * LAMBDA_H100_GPU_HOUR, P5_NODE_HOUR))
    tokens_per_hour = p["tps"] * p["avg_pct"] / 100 * 3600
    return p["price"] / tokens_per_hour * 1e6


def spec_decode_compute_bound_speedup(p: Params) -> float:
    step_cost = (p["gamma"] + 1) + p["gamma"] * p["cost"]  # in plain decode steps
    return expected_tokens_per_step(p["alpha"], p["gamma"]) / step_cost


def spec_decode_tpot(p: Params) -> float:
    step_ms = p["gamma"] * p["t_draft"] + p["t_target"]
    return step_ms / expected_tokens_per_step(p["alpha"], p["gamma"]) * 1e-3


def tp_allreduce_wire_bytes(p: Params) -> float:
    tensor_bytes = p["batch"] * p["hidden"] * BYTES_PER_ELEMENT["bf16"]
    ring_send = 2 * (p["tp"] - 1) / p["tp"] * tensor_bytes  # reduce-scatter + all-gather
    return 2 * p["layers"] * ring_send


CHECKS: dict[str, Callable[[Params], float]] = {
    # KV-cache family
    "kv-bytes-per-token": lambda p: kv_bytes_per_token(
        p["layers"], p["kv_heads"], p["head_dim"], element_bytes(p, "dtype")
    ),
    "kv-bytes-per-sequence": lambda p: (
        p["tokens"]
        * kv_bytes_per_token(p["layers"], p["kv_heads"], p["head_dim"], element_bytes(p, "dtype"))
    ),
    "kv-max-sequences-fit": kv_max_sequences_fit,
    "kv-tokens-per-gpu-under-tp": kv_tokens_per_gpu_under_tp,
    "min-tp-for-70b-kv": min_tp_for_70b_kv,
    # weight-memory family
    "weight-memory-by-dtype": lambda p: model(p) * element_bytes(p, "dtype"),
    "int4-group-size-weight-bytes": lambda p: model(p) * (4 + (16 + 16) / p["group"]) / 8,
    # decode-bound family
    "decode-bound-70b-tp": lambda p: decode_tokens_per_s(
        p["tp"] * gpu(p, "memory_bw_tbs") * 1e12,
        model_fact("Llama-3-70B") * element_bytes(p, "dtype"),
    ),
    "mixtral-batch1-decode-estimate": lambda _: decode_tokens_per_s(
        2 * gpu_fact("H100 SXM", "memory_bw_tbs") * 1e12,
        model_fact("Mixtral-8x7B-v0.1", "active_params_per_token") * 2,
    ),
    "batch1-cost-ratio-p5-vs-p4d": batch1_cost_ratio_p5_vs_p4d,
    "bandwidth-for-tpot-target": lambda p: (
        p["model"] * 1e9 * element_bytes(p, "dtype") / (p["tpot_ms"] * 1e-3)
    ),
    "launch-overhead-decode-estimate": launch_overhead_decode,
    "decode-batch-throughput-estimate": decode_batch_throughput,
    # other parameterized keys built on the facts
    "w4a16-compute-bound-batch": lambda p: gpu(p, "ridge") * element_bytes(p, "wfmt") / 2,
    "prefill-time-tp-estimate": lambda p: (
        2
        * model_fact("Llama-3-70B")
        * p["tokens"]
        / (p["tp"] * gpu_fact("H100 SXM", "bf16_tflops_dense") * 1e12 * p["mfu"] / 100)
    ),
    "prefix-caching-saved-flops": lambda p: 2 * model_fact("Llama-3-8B") * p["prefix"] * p["rps"],
    "replicas-and-cost-per-hour": replicas_and_cost_per_hour,
    "cost-per-million-at-average-load": cost_per_million_at_average_load,
    "spec-decode-compute-bound-speedup": spec_decode_compute_bound_speedup,
    "spec-decode-tpot": spec_decode_tpot,
    "tp-allreduce-wire-bytes": tp_allreduce_wire_bytes,
}

FAMILY_IDS = sorted(
    q.id
    for q in BANK.questions.values()
    if q.kind in ("numeric", "estimate") and FAMILY_SKILLS & set(q.skills)
)


def test_every_family_question_has_a_first_principles_check() -> None:
    missing = [qid for qid in FAMILY_IDS if qid not in CHECKS]
    assert not missing, f"add a first-principles check to CHECKS for: {', '.join(missing)}"
    assert {"kv-bytes-per-token", "weight-memory-by-dtype", "decode-bound-70b-tp"} <= set(
        FAMILY_IDS
    )


@pytest.mark.parametrize("question_id", sorted(CHECKS))
def test_key_matches_first_principles(question_id: str) -> None:
    question = BANK.get(question_id)
    seeds = SEEDS if question.parameterized else range(1)
    for seed in seeds:
        instance = instantiate(question, seed)
        key = instance.key
        assert isinstance(key, NumericKey)
        expected = CHECKS[question_id](instance.params)
        actual = key.value * UNIT_SCALE[key.unit]
        assert actual == pytest.approx(expected, rel=RELATIVE), (
            f"{question_id} seed {seed} {instance.params}: key {key.value} {key.unit}, "
            f"first principles give {expected / UNIT_SCALE[key.unit]} {key.unit}"
        )


def test_kv_bytes_per_token_in_facts_agree_with_their_configs() -> None:
    for name, model_facts in FACTS["models"].items():
        if "kv_bytes_per_token_fp16" in model_facts:
            assert model_kv_bytes_per_token(name) == model_facts["kv_bytes_per_token_fp16"], name


# Numbers the prompts state, as written there, and the facts they come from.
QUOTED_FACTS = {
    "kv-max-sequences-fit": [f"{model_fact('Llama-3-8B'):,}"],
    "kv-tokens-per-gpu-under-tp": [f"{model_fact('Llama-3-70B'):,}"],
    "min-tp-for-70b-kv": [
        f"{model_fact('Llama-3-70B'):,}",
        f"{model_fact('Llama-3-70B', 'kv_bytes_per_token_fp16'):,}",
    ],
    "decode-bound-70b-tp": [f"{model_fact('Llama-3-70B'):,}"],
    "llama3-70b-what-fits": [f"{model_fact('Llama-3-70B'):,}"],
    "mixtral-batch1-decode-estimate": [
        f"{model_fact('Mixtral-8x7B-v0.1', 'active_params_per_token'):,}",
        f"{gpu_fact('H100 SXM', 'memory_bw_tbs')} TB/s",
    ],
    "max-num-seqs-tradeoff": [
        f"{model_fact('Llama-3-8B', 'kv_bytes_per_token_fp16'):,} B",
        f"{model_fact('Llama-3-8B') * 2 / 1e9:.2f} GB",
    ],
    "batch1-cost-ratio-p5-vs-p4d": [
        f"${P5_NODE_HOUR}/h",
        f"${P4D_NODE_HOUR}/h",
        f"{gpu_fact('H100 SXM', 'memory_bw_tbs')} TB/s",
        f"{gpu_fact('A100 40GB SXM', 'memory_bw_tbs')} TB/s",
    ],
    "prefill-time-tp-estimate": [
        f"{gpu_fact('H100 SXM', 'bf16_tflops_dense'):g} dense BF16 TFLOPS"
    ],
}


@pytest.mark.parametrize("question_id", sorted(QUOTED_FACTS))
def test_prompt_quotes_the_facts(question_id: str) -> None:
    prompt = " ".join(BANK.get(question_id).prompt.split())
    for quoted in QUOTED_FACTS[question_id]:
        assert quoted in prompt, f"{question_id}: prompt should state {quoted!r} (shared facts)"
