"""Grades a 70B serving plan with the analytic model in capacity_model.py (a model, not a
measurement): memory, p99 TTFT, p99 TPOT, keeping up with the load, the prefix-cache claim,
cost against the cheapest plan the grader finds itself, and a justification for every choice.

Your ``plan()`` runs in a sandboxed contestant and hands back plain data; the capacity model and
its optimizer run only here (they are not among the files your process gets). A failure says
what is wrong with your plan; the cheapest plan is shown only after a pass."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from capacity_model import Evaluation, Model
from plan_file import PlanError, parse_plan, unjustified

from quiz.lab.api import Check, GradeContext

_HIT_RATE_SLACK = 0.02
PLAN_TIMEOUT_S = 30.0
GB = 1e9


def grade(ctx: GradeContext) -> list[Check]:
    model = Model()
    ctx.log("asking your plan() for the plan, in its own process")
    data = ctx.start_contestant("plan_driver:serve").call("plan", timeout_s=PLAN_TIMEOUT_S)
    ctx.details["model_note"] = (
        "An analytic model with published peak figures and stated efficiency assumptions; "
        "not a measurement."
    )
    ctx.details["assumptions"] = asdict(model.assume)
    try:
        plan = parse_plan(data, model)
    except PlanError as err:
        return [Check("plan is valid", False, message=str(err))]
    ctx.log(f"evaluating {plan.describe()}")
    mine = model.evaluate(plan)
    ctx.log("searching the plan space for the cheapest plan that meets the SLA")
    best = model.cheapest()
    ctx.details["your_plan"] = _summary(mine)
    ctx.reveal(
        f"the cheapest plan the grader found: {json.dumps(_summary(best))}; yours costs "
        f"{mine.cost_per_hour / best.cost_per_hour:.3f}x as much"
    )
    t = ctx.thresholds
    return [
        Check("plan is valid", True, message=plan.describe()),
        _memory_check(mine),
        _latency_check("p99 TTFT within SLA", mine.ttft_p99_s, model.traffic.ttft_p99_s, "s"),
        _latency_check("p99 TPOT within SLA", mine.tpot_p99_s, model.traffic.tpot_p99_s, "s"),
        _throughput_check(mine),
        _hit_rate_check(model, plan.prefix_caching, plan.prefix_hit_rate),
        _cost_check(mine, best, t["cost_ratio_max"]),
        _justification_check(data, int(t["justification_min_words"])),
    ]


def _summary(ev: Evaluation) -> dict[str, Any]:
    return {
        "plan": ev.plan.describe(),
        "cost_usd_per_hour": round(ev.cost_per_hour, 2),
        "feasible": ev.feasible,
        "binding_constraint": ev.binding,
        "limit_ratios": {k: round(v, 3) for k, v in ev.ratios.items()},
        "ttft_p99_s": round(ev.ttft_p99_s, 4),
        "tpot_p99_s": round(ev.tpot_p99_s, 5),
        "gb_per_gpu": round((ev.weights_per_gpu_bytes + ev.kv_needed_per_gpu_bytes) / GB, 2),
        "prefill_utilization": round(ev.prefill_utilization, 3),
        "p99_concurrency": round(ev.p99_concurrency, 1),
    }


def _memory_check(ev: Evaluation) -> Check:
    used = (ev.weights_per_gpu_bytes + ev.kv_needed_per_gpu_bytes) / GB
    usable = ev.usable_per_gpu_bytes / GB
    message = (
        f"weights {ev.weights_per_gpu_bytes / GB:.1f} GB + KV for the full batch at the "
        f"longest context {ev.kv_needed_per_gpu_bytes / GB:.1f} GB per GPU, {usable:.1f} GB usable"
    )
    return Check("memory fits", used <= usable, round(used, 2), round(usable, 2), "GB", message)


def _latency_check(name: str, value: float, limit: float, unit: str) -> Check:
    shown = round(value, 4) if value != float("inf") else "unbounded (overloaded)"
    return Check(name, value <= limit, shown, limit, unit)


def _throughput_check(ev: Evaluation) -> Check:
    if ev.p99_concurrency == float("inf"):
        return Check(
            "keeps up with the load",
            False,
            "overloaded",
            ev.plan.max_batch,
            "sequences",
            _overload_reason(ev),
        )
    passed = ev.p99_concurrency <= ev.plan.max_batch
    message = (
        f"p99 decode concurrency {ev.p99_concurrency:.1f} (mean {ev.mean_concurrency:.1f}) per "
        f"replica against max_batch {ev.plan.max_batch}; prefill uses "
        f"{ev.prefill_utilization:.0%} of each replica's time"
    )
    return Check(
        "keeps up with the load",
        passed,
        round(ev.p99_concurrency, 1),
        ev.plan.max_batch,
        "sequences",
        message,
    )


def _overload_reason(ev: Evaluation) -> str:
    if ev.prefill_utilization >= 1:
        share = f"prefill alone needs {ev.prefill_utilization:.0%} of each replica's time"
    else:
        share = f"decode cannot drain the arrivals in the {1 - ev.prefill_utilization:.0%} of "
        share += "each replica's time that prefill leaves"
    return f"{share}: the queue grows without bound"


def _hit_rate_check(model: Model, caching: bool, claimed: float) -> Check:
    achievable = model.traffic.achievable_hit_rate
    passed = not caching or claimed <= achievable + _HIT_RATE_SLACK
    message = (
        f"only the {model.traffic.shared_prefix_tokens}-token shared system prompt repeats: "
        f"at most {achievable:.0%} of prompt tokens can hit the cache"
    )
    return Check(
        "prefix hit rate supported by the traffic",
        passed,
        round(claimed, 3),
        round(achievable, 3),
        "",
        message,
    )


def _cost_check(mine: Evaluation, best: Evaluation, limit: float) -> Check:
    """Your plan's cost against the cheapest the grader found, as a band (over ``limit``x, or
    not): the cheapest cost, or the exact ratio with yours, divides back into the best plan's GPU
    and count ($96.32/h = 14 x $6.88), so both are shown only with a passing grade (reveal)."""
    name = f"cost within {limit:g}x of the cheapest plan"
    ratio = mine.cost_per_hour / best.cost_per_hour
    yours = f"your plan ${mine.cost_per_hour:.2f}/h"
    if not mine.feasible:
        message = (
            f"{yours} violates {_violated(mine)} (binding constraint: {mine.binding}): only a "
            "plan that meets the SLA is compared on cost"
        )
        return Check(name, False, None, limit, "x", message)
    if ratio > limit:
        message = (
            f"{yours} meets the SLA (binding constraint: {mine.binding}), but the grader found "
            f"a plan that also meets it at less than 1/{limit:g} of that cost"
        )
        return Check(name, False, f">{limit:g}", limit, "x", message)
    message = f"{yours} meets the SLA (binding constraint: {mine.binding}) within {limit:g}x"
    return Check(name, True, f"<={limit:g}", limit, "x", message)


def _violated(ev: Evaluation) -> str:
    return ", ".join(name for name, ratio in ev.ratios.items() if ratio > 1)


def _justification_check(data: dict[str, Any], min_words: int) -> Check:
    short = unjustified(data, min_words)
    message = (
        f"justification needed (at least {min_words} words each, with the numbers behind the "
        f"choice) for: {', '.join(short)}"
        if short
        else "every choice has a written justification"
    )
    return Check("every choice justified", not short, len(short), 0, "missing", message)
