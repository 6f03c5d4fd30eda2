"""Grades serve-and-profile: starts the server with a secret bottleneck, lets the submission
diagnose it over HTTP, then load-tests it itself and compares the answer with the server's own
per-request timings."""

from __future__ import annotations

import statistics
from typing import Any

from inference_server import COMPONENTS, InferenceServer, RequestTiming
from loadgen import run_load

from quiz.lab.api import Check, GradeContext, SubmissionError, share_check

CONCURRENCY = 4
GRADER_REQUESTS = 100


def grade(ctx: GradeContext) -> list[Check]:
    solution = ctx.load_submission()
    diagnose = ctx.require(solution, "diagnose")
    server = InferenceServer(ctx.seed % 2**31)
    ctx.log("starting the inference server on 127.0.0.1")
    with server:
        ctx.log(f"server at {server.url}; running your diagnose()")
        component, share = _read_answer(diagnose(server.url))
        ctx.log(f"your answer: {component} at {share:.1f}%; load-testing the server twice")
        loads = [_own_load(server, seed) for seed in (1, 2)]
    truth = p50_shares(loads[0] + loads[1])
    first, second = p50_shares(loads[0]), p50_shares(loads[1])
    slack = {c: abs(first[c] - second[c]) / 2 for c in COMPONENTS}
    ctx.details["p50_shares_pct"] = {c: round(v, 1) for c, v in truth.items()}
    top = max(truth, key=lambda c: truth[c])
    ctx.details["headline"] = {
        "name": f"{top} p50 share of latency",
        "value": round(truth[top], 2),
        "ci_low": round(min(first[top], second[top]), 2),
        "ci_high": round(max(first[top], second[top]), 2),
        "unit": "%",
    }
    ctx.details["answer"] = {"component": component, "share_pct": share}
    ctx.details["hidden_bottleneck"] = server.bottleneck
    return [
        _component_check(component, truth),
        share_check(
            ctx, "p50 share", component, share, truth, slack, measured_by="the server measured"
        ),
    ]


def p50_shares(log: list[RequestTiming]) -> dict[str, float]:
    """Per component: the median over requests of its share (%) of the request's latency."""
    return {c: statistics.median(100 * r.component(c) / r.total_s for r in log) for c in COMPONENTS}


def _own_load(server: InferenceServer, seed: int) -> list[RequestTiming]:
    before = len(server.request_log())
    samples = run_load(server.url, requests=GRADER_REQUESTS, concurrency=CONCURRENCY, seed=seed)
    if any(s.status != 200 for s in samples):
        raise RuntimeError("the inference server failed requests during the grader's load test")
    return server.request_log()[before:]


def _read_answer(answer: Any) -> tuple[str, float]:
    try:
        component, share = answer
        return str(component), float(share)
    except (TypeError, ValueError):
        raise SubmissionError(
            f"diagnose must return (component, p50_share_pct), e.g. ('model', 64.0); got {answer!r}"
        ) from None


def _component_check(component: str, truth: dict[str, float]) -> Check:
    top = max(truth, key=lambda c: truth[c])
    if component not in truth:
        message = f"{component!r} is not a component; components: {', '.join(COMPONENTS)}"
        return Check("primary latency component", False, component, top, "", message)
    passed = component == top
    message = f"{top} is {truth[top]:.1f}% of a typical request's latency"
    if not passed:
        message = f"{component} is {truth[component]:.1f}%, but " + message
    return Check("primary latency component", passed, component, top, "", message)
