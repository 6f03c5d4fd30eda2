"""An analytic model of serving Llama-3-70B: memory fit, prefill and decode time, tensor-parallel
all-reduce over NVLink, queueing at the offered load, and cost per hour.

THIS IS A MODEL, NOT A MEASUREMENT. It uses published peak figures from the facts file
(``quiz.config.facts_path()``) scaled by the efficiency assumptions in ``Assumptions``; a real
deployment must be load-tested. Pure Python (no torch): the grader, the tests and the user's own
experiments all import it. Every formula is written out in README.md ("The model").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import yaml

from quiz.config import facts_path

MODEL_NAME = "Llama-3-70B"
WEIGHT_DTYPES = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0}  # bytes per weight
KV_DTYPES = {"bf16": 2.0, "fp8": 1.0}  # bytes per cached element
ACTIVATION_BYTES = 2.0  # activations travel in bf16 whatever the weight dtype
TP_DEGREES = (1, 2, 4, 8)
PP_DEGREES = (1, 2, 4, 8)
GPUS_PER_NODE = 8  # TP x PP stays inside one 8-GPU NVLink node
MAX_REPLICAS = 64
SEARCH_MAX_BATCHES = (8, 16, 32, 64, 128, 256, 512)
# Prices: one provider, one retrieval date, so the GPUs compare fairly.
PRICE_PROVIDER = "aws"
PRICE_AS_OF = "retrieved 2026-11-09"
PRICED_INSTANCES = {
    "H100_SXM": "p5.48xlarge",
    "A100_80GB_SXM": "p4de.24xlarge",
    "A100_40GB_SXM": "p4d.24xlarge",
}
CONSTRAINTS = ("memory", "TTFT", "TPOT", "throughput")


@dataclass(frozen=True)
class Traffic:
    """The offered load and its SLA (README "The traffic")."""

    arrival_rate: float = 30.0  # requests/s, Poisson
    shared_prefix_tokens: int = 1024  # the same system prompt opens every request
    user_tokens: dict[int, float] = field(
        default_factory=lambda: {512: 0.4, 1024: 0.3, 2048: 0.2, 4096: 0.1}
    )
    output_tokens: dict[int, float] = field(default_factory=lambda: {128: 0.5, 256: 0.3, 512: 0.2})
    ttft_p99_s: float = 1.5
    tpot_p99_s: float = 0.040

    @property
    def prompt_tokens(self) -> dict[int, float]:
        return {self.shared_prefix_tokens + n: p for n, p in self.user_tokens.items()}

    @property
    def max_context(self) -> int:
        return max(self.prompt_tokens) + max(self.output_tokens)

    @property
    def achievable_hit_rate(self) -> float:
        """Share of prompt tokens a prefix cache can serve: the shared system prompt."""
        return self.shared_prefix_tokens / mean(self.prompt_tokens)


@dataclass(frozen=True)
class Assumptions:
    """Efficiency assumptions: the fraction of each published peak a tuned server reaches."""

    hbm_efficiency: float = 0.80  # achieved / peak HBM bandwidth when streaming weights and KV
    compute_efficiency: float = 0.50  # achieved / peak dense tensor FLOP/s (MFU)
    nvlink_efficiency: float = 0.70  # achieved / peak one-way NVLink bandwidth in an all-reduce
    collective_latency_s: float = 10e-6  # fixed cost of one all-reduce or stage send
    usable_memory_fraction: float = 0.90  # the rest: activations, CUDA graphs, fragmentation
    step_overhead_s: float = 0.5e-3  # scheduler + launch overhead per iteration
    p99_z: float = 2.326  # normal quantile used for the p99 of the decode concurrency


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_bytes: float
    bandwidth: float  # B/s
    bf16_flops: float  # FLOP/s, dense
    fp8_flops: float | None
    nvlink_one_way: float  # B/s
    usd_per_gpu_hour: float
    price_source: str


@dataclass(frozen=True)
class ModelConfig:
    params: float
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class Plan:
    gpu: str
    tensor_parallel: int
    pipeline_parallel: int
    weight_dtype: str
    kv_dtype: str
    max_batch: int
    prefix_caching: bool
    prefix_hit_rate: float
    replicas: int

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel

    @property
    def total_gpus(self) -> int:
        return self.gpus_per_replica * self.replicas

    def describe(self) -> str:
        cache_text = (
            f"prefix cache {self.prefix_hit_rate:.0%}" if self.prefix_caching else "no cache"
        )
        return (
            f"{self.replicas} x {self.gpu} TP{self.tensor_parallel} PP{self.pipeline_parallel} "
            f"({self.total_gpus} GPUs), weights {self.weight_dtype}, KV {self.kv_dtype}, "
            f"max batch {self.max_batch}, {cache_text}"
        )


@dataclass(frozen=True)
class Evaluation:
    """What the model says about one plan. Ratios are value / limit: > 1 violates."""

    plan: Plan
    cost_per_hour: float
    weights_per_gpu_bytes: float
    kv_needed_per_gpu_bytes: float
    usable_per_gpu_bytes: float
    prefill_p99_s: float
    decode_step_s: float  # one iteration at the p99 concurrency
    prefill_utilization: float  # share of replica time spent in prefill
    mean_concurrency: float  # decode batch, Little's law
    p99_concurrency: float
    ttft_p99_s: float
    tpot_p99_s: float
    ratios: dict[str, float]

    @property
    def feasible(self) -> bool:
        return all(ratio <= 1.0 for ratio in self.ratios.values())

    @property
    def binding(self) -> str:
        """Memory when the plan does not fit, throughput when the queue grows without bound,
        otherwise the constraint closest to (or furthest past) its limit."""
        if self.ratios["memory"] > 1:
            return "memory"
        if math.isinf(self.ratios["throughput"]):
            return "throughput"
        return max(CONSTRAINTS, key=lambda name: self.ratios[name])


def mean(dist: dict[int, float]) -> float:
    return sum(n * p for n, p in dist.items())


def percentile(dist: dict[int, float], q: float) -> int:
    total = 0.0
    for n in sorted(dist):
        total += dist[n]
        if total >= q - 1e-12:
            return n
    return max(dist)


@cache
def _facts() -> dict[str, Any]:
    with facts_path().open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def model_config() -> ModelConfig:
    m = _facts()["models"][MODEL_NAME]
    return ModelConfig(
        params=float(m["total_params"]),
        layers=int(m["num_hidden_layers"]),
        hidden=int(m["hidden_size"]),
        heads=int(m["num_attention_heads"]),
        kv_heads=int(m["num_key_value_heads"]),
        head_dim=int(m["head_dim"]),
    )


def _price(instance: str) -> tuple[float, str]:
    for entry in _facts()["prices"][PRICE_PROVIDER]:
        if entry["instance"] == instance and PRICE_AS_OF in str(entry["as_of"]):
            return float(entry["usd_per_gpu_hour"]), f"{PRICE_PROVIDER} {instance}, {PRICE_AS_OF}"
    raise KeyError(f"no {PRICE_PROVIDER} price for {instance} {PRICE_AS_OF} in the facts file")


def gpus() -> dict[str, Gpu]:
    """The GPUs a plan may use: those with a dated price in the facts file."""
    table = _facts()["gpus"]
    result = {}
    for name, instance in PRICED_INSTANCES.items():
        spec = table[name]
        price, source = _price(instance)
        fp8 = spec.get("fp8_tflops_dense")
        result[name] = Gpu(
            name=name,
            memory_bytes=float(spec["memory_gb"]) * 1e9,
            bandwidth=float(spec["memory_bw_tbs"]) * 1e12,
            bf16_flops=float(spec["bf16_tflops_dense"]) * 1e12,
            fp8_flops=float(fp8) * 1e12 if fp8 else None,
            nvlink_one_way=float(spec["nvlink_gbs"]) * 1e9 / 2,
            usd_per_gpu_hour=price,
            price_source=source,
        )
    return result


def kv_bytes_per_token(model: ModelConfig, kv_dtype: str) -> float:
    return 2 * model.layers * model.kv_heads * model.head_dim * KV_DTYPES[kv_dtype]


def _peak_flops(gpu: Gpu, weight_dtype: str) -> float:
    """fp8 weights run fp8 tensor cores (W8A8); int8 is weight-only (W8A16, bf16 math)."""
    if weight_dtype == "fp8":
        if gpu.fp8_flops is None:
            raise ValueError(f"{gpu.name} has no fp8 tensor cores")
        return gpu.fp8_flops
    return gpu.bf16_flops


class Model:
    """The analytic model for one traffic, one set of assumptions."""

    def __init__(self, traffic: Traffic | None = None, assumptions: Assumptions | None = None):
        self.traffic = traffic or Traffic()
        self.assume = assumptions or Assumptions()
        self.model = model_config()
        self.gpus = gpus()

    # --- building blocks -------------------------------------------------------------------
    def collective_s(self, gpu: Gpu, tp: int, tokens: float) -> float:
        """One ring all-reduce of ``tokens`` activations over ``tp`` GPUs on NVLink."""
        if tp == 1:
            return 0.0
        size = tokens * self.model.hidden * ACTIVATION_BYTES
        link = gpu.nvlink_one_way * self.assume.nvlink_efficiency
        return 2 * (tp - 1) / tp * size / link + self.assume.collective_latency_s

    def send_s(self, gpu: Gpu, tokens: float) -> float:
        """One pipeline-stage hand-off of ``tokens`` activations."""
        size = tokens * self.model.hidden * ACTIVATION_BYTES
        link = gpu.nvlink_one_way * self.assume.nvlink_efficiency
        return size / link + self.assume.collective_latency_s

    def prefill_s(self, plan: Plan, prompt: int) -> float:
        """Latency of one prompt's prefill: compute-bound, with a memory floor and the
        all-reduces on the critical path. PP stages run one after another for one prompt."""
        gpu, m, a = self.gpus[plan.gpu], self.model, self.assume
        tp, pp = plan.tensor_parallel, plan.pipeline_parallel
        cached = self.cached_tokens(plan)
        new = prompt - cached
        attn_context = cached + new / 2  # causal: token i attends to i earlier positions
        flops = new * (2 * m.params + 4 * m.layers * m.heads * m.head_dim * attn_context)
        compute = flops / (tp * _peak_flops(gpu, plan.weight_dtype) * a.compute_efficiency)
        weights = m.params * WEIGHT_DTYPES[plan.weight_dtype]
        memory = weights / tp / (gpu.bandwidth * a.hbm_efficiency)
        comm = 2 * m.layers * self.collective_s(gpu, tp, new)
        comm += (pp - 1) * self.send_s(gpu, new)
        return max(compute, memory) + comm + a.step_overhead_s

    def decode_step_s(self, plan: Plan, batch: float) -> float:
        """One decode iteration advancing ``batch`` sequences by a token: memory-bound
        (weights + KV read) until the batch reaches the ridge point. With PP the batch is split
        into PP micro-batches that fill the pipeline; each stage reads its weights once per
        micro-batch, so PP cuts KV and FLOP time per GPU but not weight-read time."""
        gpu, m, a = self.gpus[plan.gpu], self.model, self.assume
        tp, pp = plan.tensor_parallel, plan.pipeline_parallel
        context = self.mean_decode_context()
        weights = m.params * WEIGHT_DTYPES[plan.weight_dtype]
        kv = batch * context * kv_bytes_per_token(m, plan.kv_dtype)
        memory = (weights / tp + kv / (tp * pp)) / (gpu.bandwidth * a.hbm_efficiency)
        flops = batch * (2 * m.params + 4 * m.layers * m.heads * m.head_dim * context)
        compute = flops / (tp * pp * _peak_flops(gpu, plan.weight_dtype) * a.compute_efficiency)
        micro = batch / pp
        comm = 2 * m.layers * self.collective_s(gpu, tp, micro)
        if pp > 1:
            comm += pp * self.send_s(gpu, micro)
        return max(memory, compute) + comm + a.step_overhead_s

    def cached_tokens(self, plan: Plan) -> float:
        if not plan.prefix_caching:
            return 0.0
        hit = min(plan.prefix_hit_rate, self.traffic.achievable_hit_rate)
        return hit * mean(self.traffic.prompt_tokens)

    def mean_decode_context(self) -> float:
        """Context length averaged over decode steps: a request decodes ``out`` steps with
        context growing from its prompt length, so E[prompt] + E[out^2] / (2 E[out])."""
        out = self.traffic.output_tokens
        second_moment = sum(n * n * p for n, p in out.items())
        return mean(self.traffic.prompt_tokens) + second_moment / (2 * mean(out))

    # --- memory ----------------------------------------------------------------------------
    def memory_per_gpu(self, plan: Plan) -> tuple[float, float, float]:
        """(weights, KV needed, usable) bytes per GPU. KV is sized for ``max_batch`` sequences
        all at the longest context, so admission never has to preempt; with prefix caching the
        shared prefix is stored once per replica instead of once per sequence."""
        gpu, m, t = self.gpus[plan.gpu], self.model, self.traffic
        n = plan.gpus_per_replica
        weights = m.params * WEIGHT_DTYPES[plan.weight_dtype] / n
        per_token = kv_bytes_per_token(m, plan.kv_dtype)
        if plan.prefix_caching:
            shared = t.shared_prefix_tokens
            tokens = shared + plan.max_batch * (t.max_context - shared)
        else:
            tokens = plan.max_batch * t.max_context
        usable = gpu.memory_bytes * self.assume.usable_memory_fraction
        return weights, tokens * per_token / n, usable

    # --- the whole plan --------------------------------------------------------------------
    def evaluate(self, plan: Plan) -> Evaluation:
        """Memory, latency and queueing for ``plan``; see README "The model"."""
        t, a, pp = self.traffic, self.assume, plan.pipeline_parallel
        weights, kv_needed, usable = self.memory_per_gpu(plan)
        rate = t.arrival_rate / plan.replicas
        prompts = t.prompt_tokens
        # Prefill service time per request as the replica sees it: PP overlaps PP prompts.
        service = {n: self.prefill_s(plan, n) / pp for n in prompts}
        es = sum(service[n] * p for n, p in prompts.items())
        es2 = sum(service[n] ** 2 * p for n, p in prompts.items())
        rho = rate * es
        prefill_p99 = self.prefill_s(plan, percentile(prompts, 0.99))
        mean_batch = self._mean_concurrency(plan, rate, rho)
        if mean_batch is None:
            inf = math.inf
            return Evaluation(
                plan, self.cost_per_hour(plan), weights, kv_needed, usable, prefill_p99, inf,
                rho, inf, inf, inf, inf,
                {"memory": (weights + kv_needed) / usable, "TTFT": inf, "TPOT": inf,
                 "throughput": inf},
            )  # fmt: skip
        p99_batch = mean_batch + a.p99_z * math.sqrt(mean_batch)
        step_p99 = self.decode_step_s(plan, min(p99_batch, plan.max_batch))
        tpot_p99 = step_p99 / (1 - rho)
        # M/G/1 prefill queue (prefills take priority at iteration boundaries): Pollaczek-
        # Khinchine mean wait, exponential tail P(W > x) = rho exp(-rho x / Wq) for the p99.
        mean_wait = rate * es2 / (2 * (1 - rho))
        wait_p99 = mean_wait / rho * math.log(rho / 0.01) if rho > 0.01 else 0.0
        ttft_p99 = wait_p99 + prefill_p99 + self.decode_step_s(plan, mean_batch)
        ratios = {
            "memory": (weights + kv_needed) / usable,
            "TTFT": ttft_p99 / t.ttft_p99_s,
            "TPOT": tpot_p99 / t.tpot_p99_s,
            "throughput": p99_batch / plan.max_batch,
        }
        return Evaluation(
            plan, self.cost_per_hour(plan), weights, kv_needed, usable, prefill_p99, step_p99,
            rho, mean_batch, p99_batch, ttft_p99, tpot_p99, ratios,
        )  # fmt: skip

    def _mean_concurrency(self, plan: Plan, rate: float, rho: float) -> float | None:
        """Little's law fixed point B = rate * E[out] * TPOT(B), TPOT(B) = step(B) / (1 - rho):
        decode steps run in the time prefills leave free. None when no fixed point exists
        (the replica cannot keep up: the queue grows without bound)."""
        if rho >= 1:
            return None
        demand = rate * mean(self.traffic.output_tokens) / (1 - rho)
        batch = 0.0
        for _ in range(500):
            nxt = demand * self.decode_step_s(plan, batch)
            if nxt > 1e6:
                return None
            if abs(nxt - batch) <= 1e-9 * max(1.0, nxt):
                return nxt
            batch = nxt
        return None

    def cost_per_hour(self, plan: Plan) -> float:
        return plan.total_gpus * self.gpus[plan.gpu].usd_per_gpu_hour

    # --- search ----------------------------------------------------------------------------
    def cheapest(self) -> Evaluation:
        """The cheapest feasible plan over the whole space (ties: fewer GPUs, then bigger
        headroom). Replicas are binary-searched per configuration: more replicas only
        lower each replica's load."""
        best: Evaluation | None = None
        for config in self.configurations():
            found = self.fewest_replicas(config)
            if found is None:
                continue
            key = (found.cost_per_hour, found.plan.total_gpus, max(found.ratios.values()))
            if best is None or key < (
                best.cost_per_hour,
                best.plan.total_gpus,
                max(best.ratios.values()),
            ):
                best = found
        if best is None:
            raise RuntimeError("no feasible plan in the search space")
        return best

    def configurations(self) -> list[Plan]:
        plans = []
        hit = self.traffic.achievable_hit_rate
        for gpu_name, gpu in self.gpus.items():
            for tp in TP_DEGREES:
                for pp in PP_DEGREES:
                    if tp * pp > GPUS_PER_NODE:
                        continue
                    for wd in WEIGHT_DTYPES:
                        if wd == "fp8" and gpu.fp8_flops is None:
                            continue
                        for kd in KV_DTYPES:
                            for batch in SEARCH_MAX_BATCHES:
                                for caching in (False, True):
                                    plans.append(
                                        Plan(gpu_name, tp, pp, wd, kd, batch, caching,
                                             hit if caching else 0.0, 1)
                                    )  # fmt: skip
        return plans

    def fewest_replicas(self, config: Plan) -> Evaluation | None:
        if self.evaluate(config).ratios["memory"] > 1:
            return None
        top = self.evaluate(replace(config, replicas=MAX_REPLICAS))
        if not top.feasible:
            return None
        low, high = 1, MAX_REPLICAS
        best = top
        while low < high:
            mid = (low + high) // 2
            trial = self.evaluate(replace(config, replicas=mid))
            if trial.feasible:
                high, best = mid, trial
            else:
                low = mid + 1
        return best if best.plan.replicas == low else self.evaluate(replace(config, replicas=low))
