"""capacity-plan-70b: the analytic model against hand-computed figures, the plan reader, and
(slow) the reference, starter, an edited workspace plan.yaml, negative controls and a submission
that imports the grader's optimizer, through the real runner: the plan comes from a contestant,
the model and optimizer stay in the referee, and a failure never shows the cheapest plan."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from quiz.config import practicals_dir
from tests.lab_fixtures import failed_names, grade_shipped, support_module

PRACTICAL = "capacity-plan-70b"
FOLDER = practicals_dir() / PRACTICAL


# Imported from the practical's folder at run time, out of mypy's sight: its classes are Any.
cm = support_module(PRACTICAL, "capacity_model")
plan_file = support_module(PRACTICAL, "plan_file")
PlanError, parse_plan, unjustified = (
    plan_file.PlanError,
    plan_file.parse_plan,
    plan_file.unjustified,
)

# Figures typed from the facts file (Llama-3-70B config; H100 SXM and A100 80GB SXM specs).
PARAMS = 70_553_706_496
LAYERS, HIDDEN = 80, 8192
H100 = {"bw": 3.35e12, "bf16": 989e12, "fp8": 1979e12, "nvl": 450e9, "mem": 80e9, "usd": 6.88}
A100 = {"bw": 2.039e12, "bf16": 312e12, "nvl": 300e9, "mem": 80e9, "usd": 3.4309}  # no fp8
PROMPTS = {1536: 0.4, 2048: 0.3, 3072: 0.2, 5120: 0.1}
MEAN_PROMPT = 1536 * 0.4 + 2048 * 0.3 + 3072 * 0.2 + 5120 * 0.1  # 2355.2
MEAN_OUT = 128 * 0.5 + 256 * 0.3 + 512 * 0.2  # 243.2
MEAN_CONTEXT = MEAN_PROMPT + (128**2 * 0.5 + 256**2 * 0.3 + 512**2 * 0.2) / (2 * MEAN_OUT)


def allreduce(gpu: dict, tp: int, tokens: float) -> float:
    if tp == 1:
        return 0.0
    return 2 * (tp - 1) / tp * tokens * HIDDEN * 2 / (0.7 * gpu["nvl"]) + 10e-6


def send(gpu: dict, tokens: float) -> float:
    return tokens * HIDDEN * 2 / (0.7 * gpu["nvl"]) + 10e-6


def hand_prefill(gpu: dict, tp: int, pp: int, wbytes: float, flops: float, n: int, c: float):
    m = n - c
    work = m * (2 * PARAMS + 4 * LAYERS * 64 * 128 * (c + m / 2))
    compute = work / (tp * flops * 0.5)
    memory = PARAMS * wbytes / tp / (0.8 * gpu["bw"])
    comm = 2 * LAYERS * allreduce(gpu, tp, m) + (pp - 1) * send(gpu, m)
    return max(compute, memory) + comm + 0.5e-3


def hand_step(gpu: dict, tp: int, pp: int, wbytes: float, kv_token: float, flops: float, b):
    memory = (PARAMS * wbytes / tp + b * MEAN_CONTEXT * kv_token / (tp * pp)) / (0.8 * gpu["bw"])
    work = b * (2 * PARAMS + 4 * LAYERS * 64 * 128 * MEAN_CONTEXT)
    compute = work / (tp * pp * flops * 0.5)
    comm = 2 * LAYERS * allreduce(gpu, tp, b / pp) + (pp * send(gpu, b / pp) if pp > 1 else 0)
    return max(memory, compute) + comm + 0.5e-3


@pytest.fixture(scope="module")
def model() -> Any:
    return cm.Model()


def plan(**overrides: object) -> Any:
    base = cm.Plan("H100_SXM", 4, 1, "fp8", "fp8", 64, True, 0.43, 4)
    return replace(base, **overrides)


def test_traffic_figures_match_the_readme(model: Any) -> None:
    t = model.traffic
    assert cm.mean(t.prompt_tokens) == pytest.approx(2355.2)
    assert cm.mean(t.output_tokens) == pytest.approx(243.2)
    assert t.max_context == 5632
    assert cm.percentile(t.prompt_tokens, 0.99) == 5120
    assert t.achievable_hit_rate == pytest.approx(1024 / 2355.2)
    assert model.mean_decode_context() == pytest.approx(MEAN_CONTEXT)
    assert round(MEAN_CONTEXT, 2) == 2520.25
    assert cm.kv_bytes_per_token(model.model, "bf16") == 327_680  # 320 KiB, facts file
    assert cm.kv_bytes_per_token(model.model, "fp8") == 163_840


def test_prices_are_read_from_the_facts_file(model: Any) -> None:
    assert model.gpus["H100_SXM"].usd_per_gpu_hour == 6.88
    assert model.gpus["A100_80GB_SXM"].usd_per_gpu_hour == 3.4309
    assert model.gpus["A100_40GB_SXM"].usd_per_gpu_hour == 2.7447
    assert "2026-11-09" in model.gpus["H100_SXM"].price_source


# Plan A: H100 TP4 fp8/fp8, prefix cache, 4 replicas (the reference plan).
def test_plan_a_h100_tp4_fp8_by_hand(model: Any) -> None:
    p = plan()
    weights, kv, usable = model.memory_per_gpu(p)
    assert weights == pytest.approx(PARAMS / 4)  # 17.64 GB
    assert weights / 1e9 == pytest.approx(17.638, abs=1e-3)
    kv_tokens = 1024 + 64 * (5632 - 1024)  # shared prefix stored once
    assert kv == pytest.approx(kv_tokens * 163_840 / 4)  # 12.12 GB
    assert usable == pytest.approx(0.9 * 80e9)
    cached = 0.43 * MEAN_PROMPT
    expected = hand_prefill(H100, 4, 1, 1, H100["fp8"], 5120, cached)
    assert model.prefill_s(p, 5120) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.208, abs=0.001)
    for batch in (1, 32, 55.5):
        want = hand_step(H100, 4, 1, 1, 163_840, H100["fp8"], batch)
        assert model.decode_step_s(p, batch) == pytest.approx(want, rel=1e-9)
    assert model.cost_per_hour(p) == pytest.approx(16 * 6.88)

    # Queueing by hand. Decode is memory-bound here, so step(B) = a + b*B is linear and
    # Little's law B = D * step(B) solves in closed form: B = D*a / (1 - D*b).
    rate = 30 / 4
    service = {n: hand_prefill(H100, 4, 1, 1, H100["fp8"], n, cached) for n in PROMPTS}
    rho = rate * sum(service[n] * w for n, w in PROMPTS.items())
    es2 = sum(service[n] ** 2 * w for n, w in PROMPTS.items())
    a = hand_step(H100, 4, 1, 1, 163_840, H100["fp8"], 0.0)
    b = hand_step(H100, 4, 1, 1, 163_840, H100["fp8"], 1.0) - a
    demand = rate * MEAN_OUT / (1 - rho)
    mean_batch = demand * a / (1 - demand * b)
    p99_batch = mean_batch + 2.326 * math.sqrt(mean_batch)
    tpot = hand_step(H100, 4, 1, 1, 163_840, H100["fp8"], p99_batch) / (1 - rho)
    wait = rate * es2 / (2 * (1 - rho))
    ttft = wait / rho * math.log(rho / 0.01) + service[5120] + a + b * mean_batch

    ev = model.evaluate(p)
    assert ev.prefill_utilization == pytest.approx(rho, rel=1e-9)
    assert ev.mean_concurrency == pytest.approx(mean_batch, rel=1e-6)
    assert ev.p99_concurrency == pytest.approx(p99_batch, rel=1e-6)
    assert ev.tpot_p99_s == pytest.approx(tpot, rel=1e-6)
    assert ev.ttft_p99_s == pytest.approx(ttft, rel=1e-6)
    assert (mean_batch, ttft, tpot) == pytest.approx((40.35, 0.671, 0.0237), abs=0.01)
    assert ev.feasible and ev.binding == "throughput"


# Plan B: A100 80GB TP8 bf16/bf16, no cache: FLOP-rate and memory figures by hand.
def test_plan_b_a100_tp8_bf16_by_hand(model: Any) -> None:
    p = plan(gpu="A100_80GB_SXM", tensor_parallel=8, weight_dtype="bf16", kv_dtype="bf16",
             prefix_caching=False, prefix_hit_rate=0.0, replicas=8)  # fmt: skip
    weights, kv, _ = model.memory_per_gpu(p)
    assert weights == pytest.approx(PARAMS * 2 / 8)  # 17.64 GB
    assert kv == pytest.approx(64 * 5632 * 327_680 / 8)  # 14.76 GB
    expected = hand_prefill(A100, 8, 1, 2, A100["bf16"], 5120, 0.0)
    assert model.prefill_s(p, 5120) == pytest.approx(expected, rel=1e-9)
    # 2 x 70.55e9 x 5120 FLOP at 8 x 156 TFLOP/s = 0.579 s, attention 0.028 s, and 160
    # all-reduces of 5120 x 8192 x 2 B at 0.7 x 300 GB/s = 0.113 s: TP8 prefill pays for NVLink.
    assert expected == pytest.approx(0.579 + 0.028 + 0.113 + 0.0005, abs=0.002)
    want = hand_step(A100, 8, 1, 2, 327_680, A100["bf16"], 32)
    assert model.decode_step_s(p, 32) == pytest.approx(want, rel=1e-9)
    assert model.cost_per_hour(p) == pytest.approx(64 * 3.4309)


# Plan C: H100 TP2 PP2 int8 weights (bf16 math), bf16 KV: the pipeline-parallel terms.
def test_plan_c_h100_tp2_pp2_int8_by_hand(model: Any) -> None:
    p = plan(tensor_parallel=2, pipeline_parallel=2, weight_dtype="int8", kv_dtype="bf16")
    weights, kv, _ = model.memory_per_gpu(p)
    assert weights == pytest.approx(PARAMS * 1 / 4)
    assert kv == pytest.approx((1024 + 64 * 4608) * 327_680 / 4)
    cached = 0.43 * MEAN_PROMPT
    expected = hand_prefill(H100, 2, 2, 1, H100["bf16"], 3072, cached)
    assert model.prefill_s(p, 3072) == pytest.approx(expected, rel=1e-9)
    for batch in (8, 64, 400):  # 400 is past the ridge point: compute-bound
        want = hand_step(H100, 2, 2, 1, 327_680, H100["bf16"], batch)
        assert model.decode_step_s(p, batch) == pytest.approx(want, rel=1e-9)
    assert model.cost_per_hour(p) == pytest.approx(16 * 6.88)


# Plan D: bf16 on two H100s: the weights alone nearly fill them.
def test_plan_d_bf16_on_two_h100_does_not_fit(model: Any) -> None:
    p = plan(tensor_parallel=2, weight_dtype="bf16", kv_dtype="bf16", replicas=10)
    ev = model.evaluate(p)
    assert ev.weights_per_gpu_bytes == pytest.approx(70.55e9, rel=1e-3)
    assert ev.ratios["memory"] == pytest.approx(
        (PARAMS * 2 + (1024 + 64 * 4608) * 327_680) / 2 / 72e9
    )
    assert not ev.feasible and ev.binding == "memory"


def test_more_replicas_never_hurt(model: Any) -> None:
    previous = None
    for replicas in range(3, 12):
        ev = model.evaluate(plan(replicas=replicas))
        if previous is not None:
            assert ev.ttft_p99_s <= previous.ttft_p99_s
            assert ev.tpot_p99_s <= previous.tpot_p99_s
        previous = ev


def test_cheapest_plan_is_feasible_and_nothing_cheaper_is(model: Any) -> None:
    best = model.cheapest()
    assert best.feasible
    assert best.cost_per_hour == pytest.approx(14 * 6.88)  # 7 x TP2 fp8/fp8 with the cache
    cheaper = replace(best.plan, replicas=best.plan.replicas - 1)
    assert not model.evaluate(cheaper).feasible
    for config in model.configurations()[::37]:
        found = model.fewest_replicas(config)
        if found is not None:
            assert found.cost_per_hour >= best.cost_per_hour - 1e-9


def test_overload_is_unbounded_not_a_number(model: Any) -> None:
    ev = model.evaluate(plan(replicas=2))
    assert math.isinf(ev.ttft_p99_s) and ev.binding == "throughput" and not ev.feasible


def _valid() -> dict:
    return {
        "gpu": "H100_SXM", "gpus_per_replica": 4, "tensor_parallel": 4, "pipeline_parallel": 1,
        "weight_dtype": "fp8", "kv_dtype": "fp8", "max_batch": 64, "prefix_caching": True,
        "prefix_hit_rate": 0.43, "replicas": 4,
    }  # fmt: skip


def test_parse_plan_accepts_a_valid_plan(model: Any) -> None:
    assert parse_plan(_valid(), model) == plan()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"gpu": "H200_SXM"}, "gpu must be one of"),
        ({"gpus_per_replica": 2}, "gpus_per_replica is 2"),
        ({"tensor_parallel": 8, "gpus_per_replica": 16, "pipeline_parallel": 2}, "one 8-GPU"),
        ({"tensor_parallel": 3}, "tensor_parallel must be one of"),
        ({"tensor_parallel": True}, "whole number"),
        ({"gpu": "A100_40GB_SXM"}, "fp8 tensor cores"),
        ({"kv_dtype": "int4"}, "kv_dtype must be one of"),
        ({"prefix_hit_rate": 1.5}, "between 0 and 1"),
        ({"prefix_caching": False}, "must be 0 when"),
        ({"replicas": 0}, "replicas must be a whole number"),
        ({"colour": "blue"}, "unknown field"),
    ],
)
def test_parse_plan_rejects_mistakes_in_one_line(model: Any, change: dict, words: str) -> None:
    data = _valid() | change
    with pytest.raises(PlanError, match=words):
        parse_plan(data, model)


def test_parse_plan_reports_missing_fields(model: Any) -> None:
    data = _valid()
    del data["replicas"]
    with pytest.raises(PlanError, match="missing field"):
        parse_plan(data, model)
    with pytest.raises(PlanError, match="mapping"):
        parse_plan(["gpu"], model)


def test_unjustified_lists_short_todo_or_numberless_reasons() -> None:
    reasons = {name: "because 3.35 TB/s says so, see the model" for name in
               ("gpu", "parallelism", "dtypes", "max_batch", "prefix_caching", "replicas")}  # fmt: skip
    assert unjustified({"justification": reasons}, 12) == ["gpu", "parallelism", "dtypes",
                                                          "max_batch", "prefix_caching",
                                                          "replicas"]  # fmt: skip
    assert unjustified({"justification": reasons}, 5) == []
    reasons["gpu"] = "TODO"
    reasons["replicas"] = "because the numbers say so, see the model"
    assert unjustified({"justification": reasons}, 5) == ["gpu", "replicas"]
    assert len(unjustified({}, 5)) == 6


# --- through the real runner --------------------------------------------------------------


@pytest.mark.slow
def test_reference_passes() -> None:
    result = grade_shipped(PRACTICAL, FOLDER / "reference.py", "reference")
    assert result.error is None, result.error
    assert result.passed, [c for c in result.checks if not c.passed]
    assert "not a measurement" in result.details["model_note"]
    assert result.duration_s < 60


@pytest.mark.slow
def test_starter_workspace_fails_on_its_plan(tmp_path: Path) -> None:
    from quiz.lab.workspace import start_workspace

    folder = start_workspace("capacity-plan-70b", tmp_path / "ws")
    assert (folder / "plan.yaml").is_file()
    result = grade_shipped(PRACTICAL, folder, "starter")
    assert result.error is None, result.error
    assert not result.passed
    assert {"memory fits", "every choice justified"} <= failed_names(result)


@pytest.mark.slow
def test_the_users_edited_plan_yaml_is_what_is_graded(tmp_path: Path) -> None:
    from quiz.lab.workspace import start_workspace

    folder = start_workspace("capacity-plan-70b", tmp_path / "ws")
    reference = (FOLDER / "reference.py").read_text(encoding="utf-8")
    plan_yaml = reference.split('PLAN = """', 1)[1].split('"""', 1)[0]
    (folder / "plan.yaml").write_text(plan_yaml, encoding="utf-8")
    result = grade_shipped(PRACTICAL, folder, "workspace")
    assert result.passed, [c for c in result.checks if not c.passed]
    assert result.details["answer"], "a pass shows the cheapest plan"


IMPORTS_THE_OPTIMIZER = """
def plan():
    from capacity_model import Model  # the grader's own optimizer, if it were importable

    best = Model().cheapest().plan
    return {"gpu": best.gpu}
"""


@pytest.mark.slow
def test_the_optimizer_cannot_be_imported(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(IMPORTS_THE_OPTIMIZER, encoding="utf-8")
    result = grade_shipped(PRACTICAL, tmp_path, "path")
    assert not result.passed
    assert result.error is not None
    assert "No module named 'capacity_model'" in result.error
    assert 'solution.py", line 3, in plan' in result.error


CONTROL_FAILURES = {
    "bf16_on_two_gpus": "memory fits",
    "fp8_on_a100": "plan is valid",
    "inflated_hit_rate": "prefix hit rate supported by the traffic",
    "no_justification": "every choice justified",
    "overprovisioned": "cost within 1.25x of the cheapest plan",
    "underprovisioned": "keeps up with the load",
}


def test_every_control_is_listed() -> None:
    assert {p.stem for p in (FOLDER / "controls").glob("*.py")} == set(CONTROL_FAILURES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONTROL_FAILURES))
def test_control_fails_for_its_reason(name: str) -> None:
    result = grade_shipped(PRACTICAL, FOLDER / "controls" / f"{name}.py", f"control:{name}")
    assert result.error is None, result.error
    assert not result.passed
    assert CONTROL_FAILURES[name] in failed_names(result)
    best = cm.Model().cheapest()
    assert "answer" not in result.details
    shown = repr(result.details) + repr(result.checks)
    assert best.plan.describe() not in shown
    # its cost divides back into its GPU and count ($96.32/h = 14 x $6.88), and so does the
    # exact ratio with your own cost
    assert f"{best.cost_per_hour:.2f}" not in shown
    costs = [c.measured for c in result.checks if c.name.startswith("cost within")]
    assert not [ratio for ratio in costs if isinstance(ratio, float)]
