"""Grades profile-hotspot from the referee: each grade draws two variants of the pipeline (each
its own kind of bug, and how much of a step the bug takes) from the grade's secret seed; for
each, a trusted process of the grader's own profiles it in steady state, before and after your
``find_hotspot`` runs on it in a sandboxed contestant, and your (stage, share) is compared with
what the profiler measured. The measured profile never reaches your process, and a failure says
what is wrong with your answer, not what the right one is (that is shown only after a pass)."""

from __future__ import annotations

import functools
import random
import statistics
from dataclasses import replace
from typing import Any

from baseline import WARMUP_STEPS
from hotspot_pipeline import BOTTLENECKS, STAGES, STEP_RANGE, draw_bug, make_batch

from quiz.lab.api import Check, GradeContext, SubmissionError, graded_in_turn, share_check

PROFILED_STEPS = 8
CALL_TIMEOUT_S = 45.0
VARIANTS = 2  # per grade, each with a different kind of bug


def grade(ctx: GradeContext) -> list[Check]:
    ctx.details["your_answer"] = []
    headlines: list[dict[str, Any]] = []
    pipelines = [
        functools.partial(_grade_variant, ctx, number, variant_seed, headlines)
        for number, variant_seed in enumerate(variants_for(ctx.seed), start=1)
    ]
    checks = graded_in_turn(ctx, pipelines, "pipeline")
    if all(check.passed for check in checks):
        ctx.details["headline"] = headlines[0]  # a measured share: shown only after a pass
    return checks


def variants_for(seed: int) -> list[int]:
    """The grade's pipeline variants (seeds for ``draw_bug``), each with a different kind of
    bug. The pipeline object shows its bug, as the code does, so the stage can be named without
    profiling, and a share guessed from the middle of the bug's range: that passed about one
    grade in four; it must now be right twice."""
    rng = random.Random(seed)
    variants: list[int] = []
    while len(variants) < VARIANTS:
        candidate = rng.getrandbits(31)
        if draw_bug(candidate)[0] not in {draw_bug(v)[0] for v in variants}:
            variants.append(candidate)
    return variants


def _grade_variant(
    ctx: GradeContext, number: int, variant_seed: int, headlines: list[dict[str, Any]]
) -> list[Check]:
    label = f"pipeline {number} of {VARIANTS}"
    batches = [
        make_batch(ctx.seed + 1000 * number + i) for i in range(WARMUP_STEPS + PROFILED_STEPS)
    ]
    variant = {"variant": variant_seed}
    ctx.log(f"{label}: profiling a new variant in steady state (before your code runs)")
    before = _profile(ctx, variant, batches)
    ctx.log(f"{label}: running your find_hotspot on a fresh pipeline, in a process of its own")
    candidate = ctx.start_contestant("hotspot_pipeline:serve", init=variant)
    try:
        answer = candidate.call("find_hotspot", batches, timeout_s=CALL_TIMEOUT_S)
    finally:
        candidate.close()
    stage, share = _read_answer(answer)
    ctx.log(f"{label}: your answer: {stage} at {share:.1f}%; profiling again (after your code ran)")
    after = _profile(ctx, variant, batches)
    truth = stage_shares(before + after)
    first, second = stage_shares(before), stage_shares(after)
    # The grader's own two measurements disagree a little on a busy machine: widen the
    # tolerance by half that disagreement, so the verdict does not hinge on the noise.
    slack = {s: abs(first[s] - second[s]) / 2 for s in STAGES}
    top = max(truth, key=lambda s: truth[s])
    ctx.details["your_answer"].append({"pipeline": number, "stage": stage, "share_pct": share})
    checks = [
        _stage_check(ctx, stage, truth),
        share_check(ctx, "share of step time", stage, share, truth, slack),
    ]
    checks = [replace(check, name=f"pipeline {number}: {check.name}") for check in checks]
    if not all(check.passed for check in checks):
        return checks
    headlines.append(
        {
            "name": f"pipeline {number}: {top} share of step time",
            "value": round(truth[top], 2),
            # the range of the two profiles and of both together (each leaves out its own
            # outlier steps, so the pooled share can fall just outside the other two)
            "ci_low": round(min(first[top], second[top], truth[top]), 2),
            "ci_high": round(max(first[top], second[top], truth[top]), 2),
            "unit": "%",
        }
    )
    shares = ", ".join(f"{s} {truth[s]:.1f}%" for s in sorted(STAGES, key=lambda s: -truth[s]))
    ctx.reveal(f"pipeline {number}: the grader's profile of a steady-state step: {shares}")
    bug, work = draw_bug(variant_seed)
    ctx.reveal(f"pipeline {number}: its variant: {bug} in {BOTTLENECKS[bug]} (work {work})")
    return checks


def stage_shares(steps: list[dict[str, float]]) -> dict[str, float]:
    """Each stage's share (%) of step time over the steps, leaving out steps that took over
    1.5x the median (another process on the machine got in the way)."""
    typical = statistics.median(step[STEP_RANGE] for step in steps)
    kept = [step for step in steps if step[STEP_RANGE] <= 1.5 * typical]
    total = sum(step[STEP_RANGE] for step in kept)
    return {stage: 100 * sum(step[stage] for step in kept) / total for stage in STAGES}


def _profile(
    ctx: GradeContext, variant: dict[str, int], batches: list[list[int]]
) -> list[dict[str, float]]:
    """One profile, by the grader's own code in a fresh process, as yours is: the first
    profiling session in a process measures many small ops differently from later ones (the
    host-sync variants' share moved by 10 points between a process's first profile and its
    second), so each of the grader's profiles is the first in its process too."""
    measurer = ctx.start_contestant(
        "hotspot_pipeline:measure", solution="baseline.py", init=variant
    )
    try:
        steps = measurer.call("profile", batches, timeout_s=CALL_TIMEOUT_S)
    finally:
        measurer.close()
    return [{str(k): float(v) for k, v in step.items()} for step in steps]


def _read_answer(answer: Any) -> tuple[str, float]:
    try:
        stage, share = answer
        return str(stage), float(share)
    except (TypeError, ValueError):
        raise SubmissionError(
            f"find_hotspot must return (stage, share_pct), e.g. ('embed', 62.5); got {answer!r}"
        ) from None


def _stage_check(ctx: GradeContext, stage: str, truth: dict[str, float]) -> Check:
    """Your stage against the largest measured share (a stage within ``stage_tie_pts`` of it
    counts too). The threshold column and the messages name neither the top stage nor any
    measured share: the answer is shown only after a pass."""
    tie = ctx.thresholds["stage_tie_pts"]
    top_share = max(truth.values())
    threshold = f"largest share (±{tie:g} pts)"
    if stage not in truth:
        message = f"{stage!r} is not a stage; stages: {', '.join(STAGES)}"
        return Check("dominant stage", False, stage, threshold, "", message)
    passed = truth[stage] >= top_share - tie
    if passed:
        message = f"{stage} takes the largest share of a steady-state step"
    else:
        message = (
            f"{stage} is not the hotspot: in the grader's profile of a steady-state step another "
            f"stage takes more than {tie:g} points more than {stage}"
        )
    return Check("dominant stage", passed, stage, threshold, "", message)
