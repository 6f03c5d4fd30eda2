"""Grades serve-and-profile from the referee: two inference servers, one after the other, each
with a different secret bottleneck of a secret size, run here; for each, your ``diagnose`` runs
in a sandboxed contestant that reaches it through a Unix socket in its folder (it has no network
of its own). Then a trusted load test of the grader's own, in a process of the same kind, loads
the server twice, and the answer is compared with the server's own record of each request, which
never leaves this process. Two different bottlenecks: an answer that does not measure (the same
component every time, or a guess) cannot be right for both. A failure says what is wrong with
your answer, not what the right one is (that is shown only after a pass)."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from inference_server import (
    BOTTLENECKS,
    COMPONENTS,
    InferenceServer,
    RequestTiming,
    p50_shares,
)
from server_link import SOCKET_NAME

from quiz.lab.api import Check, GradeContext, SubmissionError, graded_in_turn, share_check
from quiz.lab.referee import Contestant

SERVERS = 2  # per grade, each with a different bottleneck
CONCURRENCY = 4
GRADER_REQUESTS = 100
CALL_TIMEOUT_S = 60.0
# Runs of one server's whole measurement while it is inconclusive.
ATTEMPTS = 2


def grade(ctx: GradeContext) -> list[Check]:
    ctx.details["your_answer"] = []
    headlines: list[dict[str, Any]] = []
    servers = [
        functools.partial(
            measured_until_decided,
            ctx,
            functools.partial(_grade_once, ctx, number, server_seed, bottleneck, headlines),
            ATTEMPTS,
        )
        for number, (bottleneck, server_seed) in enumerate(servers_for(ctx.seed), start=1)
    ]
    checks = graded_in_turn(ctx, servers, "server")
    if all(check.passed for check in checks):
        ctx.details["headline"] = headlines[0]  # a measured share: shown only after a pass
    return checks


def servers_for(seed: int) -> list[tuple[str, int]]:
    """The grade's servers: each one's bottleneck (all different) and seed (its bottleneck's
    size, and the stage that pays the one-time setup)."""
    rng = random.Random(seed)
    return [(bottleneck, rng.randrange(2**31)) for bottleneck in rng.sample(BOTTLENECKS, SERVERS)]


def measured_until_decided(
    ctx: GradeContext, attempt: Callable[[], list[Check]], attempts: int
) -> list[Check]:
    """``attempt``'s checks, measured again from the start (your diagnose() and both load tests)
    while one of them is inconclusive, at most ``attempts`` times in all: a machine whose load
    changes while it measures should not decide a grade. An attempt that decides is final, pass
    or fail; a pass still needs the grader's own load tests to agree with the answer."""
    for number in range(1, attempts + 1):
        checks = attempt()
        ctx.details["attempts"] = number
        if not any(check.inconclusive for check in checks):
            return checks
        if number < attempts:
            ctx.log(
                "inconclusive: the machine's load changed while measuring; measuring again "
                f"from the start (attempt {number + 1} of {attempts})"
            )
    return checks


def _grade_once(
    ctx: GradeContext, number: int, seed: int, bottleneck: str, headlines: list[dict[str, Any]]
) -> list[Check]:
    server = InferenceServer(seed, bottleneck=bottleneck)
    label = f"server {number} of {SERVERS}"
    ctx.log(f"{label}: starting an inference server with a new secret bottleneck")
    with server:
        candidate = ctx.start_contestant("server_link:serve", loopback_tcp=True)
        server.serve_unix(candidate.workdir / SOCKET_NAME)
        ctx.log(f"{label}: running your diagnose() in its own process")
        try:
            answer = candidate.call("diagnose", timeout_s=CALL_TIMEOUT_S)
        finally:
            candidate.close()
        component, share = _read_answer(answer)
        server.close_profiling()  # none of your diagnose() runs during the grader's loads
        ctx.log(f"{label}: your answer: {component} at {share:.1f}%; load-testing it twice")
        loader = ctx.start_contestant(
            "server_link:load_test", solution="baseline.py", loopback_tcp=True
        )
        server.serve_unix(loader.workdir / SOCKET_NAME)
        try:
            loads = [_own_load(server, loader, seed) for seed in (1, 2)]
        finally:
            loader.close()
    truth = p50_shares(loads[0] + loads[1])
    first, second = p50_shares(loads[0]), p50_shares(loads[1])
    slack = {c: abs(first[c] - second[c]) / 2 for c in COMPONENTS}
    top = max(truth, key=lambda c: truth[c])
    answers = ctx.details["your_answer"]
    del answers[number - 1 :]  # a measurement taken again replaces the inconclusive one
    answers.append({"server": number, "component": component, "share_pct": share})
    checks = [
        loads_disagree(_component_check(component, truth), component, first, second),
        share_check(ctx, "p50 share", component, share, truth, slack, measured_by="the server"),
    ]
    checks = [replace(check, name=f"server {number}: {check.name}") for check in checks]
    if not all(check.passed for check in checks):
        return checks
    shares = ", ".join(f"{c} {truth[c]:.1f}%" for c in sorted(COMPONENTS, key=lambda c: -truth[c]))
    ctx.reveal(f"server {number}'s p50 shares under the grader's load: {shares}")
    ctx.reveal(f"server {number}'s hidden bottleneck was: {server.bottleneck}")
    headlines.append(
        {
            "name": f"server {number}: {top} p50 share of latency",
            "value": round(truth[top], 2),
            "ci_low": round(min(first[top], second[top]), 2),
            "ci_high": round(max(first[top], second[top]), 2),
            "unit": "%",
        }
    )
    return checks


def loads_disagree(
    check: Check, component: str, first: dict[str, float], second: dict[str, float]
) -> Check:
    """A failed component check is inconclusive (never a pass) when the answer is the largest
    component in one of the grader's own two load tests: its evidence contradicts itself, so it
    cannot decide."""
    if check.passed or component not in first:
        return check
    tops = {max(first, key=lambda c: first[c]), max(second, key=lambda c: second[c])}
    if len(tops) == 1 or component not in tops:
        return check
    message = (
        "inconclusive: the grader's own two load tests disagree about which component is the "
        "largest (the machine's load changed between them) - rerun on a quieter machine"
    )
    return replace(check, message=message, inconclusive=True)


def _own_load(server: InferenceServer, loader: Contestant, seed: int) -> list[RequestTiming]:
    before = len(server.request_log())
    statuses = loader.call("load", GRADER_REQUESTS, CONCURRENCY, seed, timeout_s=CALL_TIMEOUT_S)
    if any(status != 200 for status in statuses):
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
    """Your component against the largest p50 share; neither the threshold column nor a
    failure's message names the top component, and a right one's share is not given (it is
    what the share check asks for: the grader's shares are shown after a pass)."""
    threshold = "largest p50 share"
    if component not in truth:
        message = f"{component!r} is not a component; components: {', '.join(COMPONENTS)}"
        return Check("primary latency component", False, component, threshold, "", message)
    passed = component == max(truth, key=lambda c: truth[c])
    where = "of a typical request's latency at the server"
    if passed:
        message = f"{component} takes the largest share {where}"
    else:
        message = f"{component} is {truth[component]:.1f}% {where}; another component takes more"
    return Check("primary latency component", passed, component, threshold, "", message)
