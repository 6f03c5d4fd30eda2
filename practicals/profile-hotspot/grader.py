"""Grades profile-hotspot: re-profiles the user's variant of the pipeline in steady state and
compares the submitted (stage, share) with what the profiler measured."""

from __future__ import annotations

import statistics
from typing import Any

from hotspot_pipeline import STAGES, STEP_RANGE, Batch, Pipeline, build_pipeline, make_batch
from torch.profiler import ProfilerActivity, profile

from quiz.lab.api import Check, GradeContext, SubmissionError, share_check

WARMUP_STEPS = 2
PROFILED_STEPS = 8


def grade(ctx: GradeContext) -> list[Check]:
    solution = ctx.load_submission()
    find_hotspot = ctx.require(solution, "find_hotspot")
    batches = [make_batch(ctx.seed + i) for i in range(WARMUP_STEPS + PROFILED_STEPS)]

    ctx.log("profiling the pipeline in steady state (before your code runs)")
    before = profile_steps(build_pipeline(ctx.user_seed), batches)
    ctx.log("running your find_hotspot on a fresh pipeline")
    stage, share = _read_answer(find_hotspot(build_pipeline(ctx.user_seed), list(batches)))
    ctx.log("profiling the pipeline again (after your code ran)")
    after = profile_steps(build_pipeline(ctx.user_seed), batches)
    truth = stage_shares(before + after)
    first, second = stage_shares(before), stage_shares(after)
    # The grader's own two measurements disagree a little on a busy machine: widen the
    # tolerance by half that disagreement, so the verdict does not hinge on the noise.
    slack = {s: abs(first[s] - second[s]) / 2 for s in STAGES}
    ctx.details["stage_shares_pct"] = {s: round(v, 1) for s, v in truth.items()}
    top = max(truth, key=lambda s: truth[s])
    ctx.details["headline"] = {
        "name": f"{top} share of step time",
        "value": round(truth[top], 2),
        "ci_low": round(min(first[top], second[top]), 2),
        "ci_high": round(max(first[top], second[top]), 2),
        "unit": "%",
    }
    ctx.details["answer"] = {"stage": stage, "share_pct": share}
    return [
        _stage_check(ctx, stage, truth),
        share_check(ctx, "share of step time", stage, share, truth, slack),
    ]


def profile_steps(pipeline: Pipeline, batches: list[Batch]) -> list[dict[str, float]]:
    """Per profiled step (after warm-up steps): the step's and each stage's time in µs."""
    for batch in batches[:WARMUP_STEPS]:
        pipeline.step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[WARMUP_STEPS:]:
            pipeline.step(batch)
    ranges = [e for e in prof.events() if e.name in STAGES or e.name == STEP_RANGE]
    steps = []
    for step in (e for e in ranges if e.name == STEP_RANGE):
        start, end = step.time_range.start, step.time_range.end
        inside = {e.name: e.cpu_time_total for e in ranges if start < e.time_range.start < end}
        steps.append({STEP_RANGE: step.cpu_time_total} | {s: inside.get(s, 0.0) for s in STAGES})
    return steps


def stage_shares(steps: list[dict[str, float]]) -> dict[str, float]:
    """Each stage's share (%) of step time over the steps, leaving out steps that took over
    1.5x the median (another process on the machine got in the way)."""
    typical = statistics.median(step[STEP_RANGE] for step in steps)
    kept = [step for step in steps if step[STEP_RANGE] <= 1.5 * typical]
    total = sum(step[STEP_RANGE] for step in kept)
    return {stage: 100 * sum(step[stage] for step in kept) / total for stage in STAGES}


def _read_answer(answer: Any) -> tuple[str, float]:
    try:
        stage, share = answer
        return str(stage), float(share)
    except (TypeError, ValueError):
        raise SubmissionError(
            f"find_hotspot must return (stage, share_pct), e.g. ('embed', 62.5); got {answer!r}"
        ) from None


def _stage_check(ctx: GradeContext, stage: str, truth: dict[str, float]) -> Check:
    top = max(truth, key=lambda s: truth[s])
    tie = ctx.thresholds["stage_tie_pts"]
    if stage not in truth:
        passed, message = False, f"{stage!r} is not a stage; stages: {', '.join(STAGES)}"
    else:
        passed = stage == top or truth[stage] >= truth[top] - tie
        message = (
            f"{top} takes {truth[top]:.1f}% of a steady-state step"
            if passed
            else f"{stage} takes {truth[stage]:.1f}%, but {top} takes {truth[top]:.1f}%"
        )
    return Check("dominant stage", passed, stage, top, "", message)
