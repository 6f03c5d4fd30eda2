"""Grades serve-and-profile from the referee: the inference server, with a secret bottleneck,
runs here; your ``diagnose`` runs in a sandboxed contestant that reaches it through a Unix socket
in its folder (it has no network of its own). Then a trusted load test of the grader's own, in a
process of the same kind, loads the server twice, and the answer is compared with the server's
own record of each request, which never leaves this process. A failure says what is wrong with
your answer, not what the right one is (that is shown only after a pass)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from inference_server import COMPONENTS, InferenceServer, RequestTiming
from server_link import SOCKET_NAME

from quiz.lab.api import Check, GradeContext, SubmissionError, share_check
from quiz.lab.referee import Contestant

CONCURRENCY = 4
GRADER_REQUESTS = 100
CALL_TIMEOUT_S = 90.0
# The server's record of the diagnose window is compared only when it holds this many requests.
MIN_WINDOW_REQUESTS = 20
# Runs of the whole measurement while it is inconclusive.
ATTEMPTS = 2


def grade(ctx: GradeContext) -> list[Check]:
    return measured_until_decided(ctx, lambda: _grade_once(ctx), ATTEMPTS)


def measured_until_decided(
    ctx: GradeContext, attempt: Callable[[], list[Check]], attempts: int
) -> list[Check]:
    """``attempt``'s checks, measured again from the start (your diagnose() and both load tests)
    while one of them is inconclusive, at most ``attempts`` times in all: with a core busy, about
    one grade in five of the reference found the machine's load changed between the windows. An
    attempt that decides is final, pass or fail; a pass still needs the grader's own load tests
    to agree with the answer."""
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


def _grade_once(ctx: GradeContext) -> list[Check]:
    server = InferenceServer(ctx.seed % 2**31)
    ctx.log("starting the inference server")
    with server:
        # Not pinned: the server runs in this process, and a client pinned to one core while
        # the server shares the other with whatever else runs measured a different server.
        candidate = ctx.start_contestant("server_link:serve", pinned=False, loopback_tcp=True)
        server.serve_unix(candidate.workdir / SOCKET_NAME)
        ctx.log("running your diagnose() in its own process")
        before = len(server.request_log())
        try:
            answer = candidate.call("diagnose", timeout_s=CALL_TIMEOUT_S)
        finally:
            candidate.close()
        their_window = server.request_log()[before:]
        component, share = _read_answer(answer)
        ctx.log(f"your answer: {component} at {share:.1f}%; load-testing the server twice")
        loader = ctx.start_contestant(
            "server_link:load_test", solution="baseline.py", pinned=False, loopback_tcp=True
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
    ctx.details["your_answer"] = {"component": component, "share_pct": share}
    checks = [
        loads_disagree(_component_check(component, truth), component, first, second),
        share_check(ctx, "p50 share", component, share, truth, slack, measured_by="the server"),
    ]
    if len(their_window) >= MIN_WINDOW_REQUESTS:
        bodies = [t.body_bytes for load in loads for t in load]
        during = [
            p50_shares(stretch)
            for stretch in stretches(their_window)
            if under_the_prescribed_load(stretch, int(0.9 * min(bodies)), int(1.1 * max(bodies)))
        ]
        tolerance = ctx.thresholds["share_tolerance_pts"]
        checks = [
            machine_changed(check, component, share, truth, during, tolerance) for check in checks
        ]
    if all(check.passed for check in checks):
        ctx.details["headline"] = {
            "name": f"{top} p50 share of latency",
            "value": round(truth[top], 2),
            "ci_low": round(min(first[top], second[top]), 2),
            "ci_high": round(max(first[top], second[top]), 2),
            "unit": "%",
        }
    shares = ", ".join(f"{c} {truth[c]:.1f}%" for c in sorted(COMPONENTS, key=lambda c: -truth[c]))
    ctx.reveal(f"the server's p50 shares under the grader's load: {shares}")
    ctx.reveal(f"the hidden bottleneck was: {server.bottleneck}")
    return checks


def loads_disagree(
    check: Check, component: str, first: dict[str, float], second: dict[str, float]
) -> Check:
    """A failed component check is inconclusive (never a pass) when the answer is the largest
    component in one of the grader's own two load tests: its evidence contradicts itself (with a
    core busy, one load test measured serialize at 59 % and queue at 26 %, the next queue at 69 %
    and serialize at 26 %), so it cannot decide."""
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


def machine_changed(
    check: Check,
    component: str,
    share: float,
    truth: dict[str, float],
    during: list[dict[str, float]],
    tolerance: float,
) -> Check:
    """A failed check becomes inconclusive (never a pass) when the server's own record of the
    requests made while ``diagnose`` ran (``during``: p50 shares of the whole window and of
    stretches of it) supports the answer somewhere and disagrees there with the grader's load by
    more than the tolerance: the server itself behaved differently between the two windows (a
    busy core does that), so the evidence cannot decide."""
    if check.passed or component not in truth:
        return check
    if not any(_supports(check, component, share, truth, then, tolerance) for then in during):
        return check
    message = (
        "inconclusive: the server's own record of the requests made while your diagnose() ran "
        "agrees with your answer, but the server behaved differently under the grader's load "
        "(the machine's load changed between them) - rerun on a quieter machine"
    )
    return replace(check, message=message, inconclusive=True)


def _supports(
    check: Check,
    component: str,
    share: float,
    truth: dict[str, float],
    then: dict[str, float],
    tolerance: float,
) -> bool:
    if component not in then:
        return False
    if check.name == "primary latency component":
        top_then = max(then, key=lambda c: then[c])
        return component == top_then and top_then != max(truth, key=lambda c: truth[c])
    return (
        abs(share - then[component]) <= tolerance
        and abs(then[component] - truth[component]) > tolerance
    )


def under_the_prescribed_load(stretch: list[RequestTiming], smallest: int, largest: int) -> bool:
    """Whether the requests were made the way the task prescribes (at most ``CONCURRENCY`` in
    the server at once, bodies like the grader's load generator's): only then is the server's
    record evidence about the machine. Flooded at 32 clients, queueing took most of a window's
    latency and made a wrong "queue" answer look like a busy machine: inconclusive every time."""
    return all(t.in_flight <= CONCURRENCY and smallest <= t.body_bytes <= largest for t in stretch)


def stretches(log: list[RequestTiming]) -> list[list[RequestTiming]]:
    """The whole window and its stretches of ``2 * MIN_WINDOW_REQUESTS`` requests, overlapping by
    half: with a core busy the server's shares swing within one window (one diagnose's 160
    requests measured queue at 87 % of latency while its 272 in all measured 6 %), and an answer
    may rest on part of it."""
    size = 2 * MIN_WINDOW_REQUESTS
    parts = [log[i : i + size] for i in range(0, len(log) - size + 1, MIN_WINDOW_REQUESTS)]
    return [log, *parts]


def p50_shares(log: list[RequestTiming]) -> dict[str, float]:
    """Per component: the median over requests of its share (%) of the request's latency."""
    return {c: statistics.median(100 * r.component(c) / r.total_s for r in log) for c in COMPONENTS}


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
    failure's message names the top component."""
    threshold = "largest p50 share"
    if component not in truth:
        message = f"{component!r} is not a component; components: {', '.join(COMPONENTS)}"
        return Check("primary latency component", False, component, threshold, "", message)
    passed = component == max(truth, key=lambda c: truth[c])
    share = f"{component} is {truth[component]:.1f}% of a typical request's latency at the server"
    message = f"{share}, the largest share" if passed else f"{share}; another component takes more"
    return Check("primary latency component", passed, component, threshold, "", message)
