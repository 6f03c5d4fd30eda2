"""What a practical's grader sees: the spec, the grade context and the check it returns.

No torch here: the runner and catalog import this module in the UI process. The grade context is
built by the worker (which has torch) and handed to ``grader.grade(ctx)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import torch

    from quiz.lab.harness import Comparison, Harness, YardstickComparison
    from quiz.lab.rank_group import RankGroup
    from quiz.lab.referee import Answerer, Contestant, ContestantOptions

Phase = Literal["foundations", "core", "advanced"]
Level = Literal["L1", "L2", "L3", "L4"]


class SubmissionError(Exception):
    """The submission is wrong in a way that ends grading (wrong output, tampering, bad API)."""


class CpuCaveat(BaseModel):
    """What a practical warns about before you start, on a CPU whose ``/proc/cpuinfo`` lists
    none of ``flags_any`` (its grade may then be undecidable here)."""

    model_config = ConfigDict(extra="forbid")

    flags_any: list[str] = Field(min_length=1)
    note: str


class PracticalSpec(BaseModel):
    """``practicals/<id>/practical.yaml``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    title: str = Field(max_length=80)
    phase: Phase
    level: Level
    skills: list[str] = Field(default_factory=list)
    device: Literal["any", "cuda"] = "any"
    time_limit_s: float = Field(gt=0, le=3600)
    summary: str
    thresholds: dict[str, float] = Field(default_factory=dict)
    workspace_files: list[str] = Field(default_factory=list)
    # Support modules every contestant gets a copy of (with the workspace files and README).
    public: list[str] = Field(default_factory=list)
    time_budget_s: int = Field(default=900, ge=15, le=1800)
    # Address-space cap for the worker on CPU (MiB on top of what the worker already uses);
    # None leaves the lab's default (half the machine's memory).
    memory_limit_mb: int | None = Field(default=None, gt=0)
    # At most this many torch threads per process, where a threshold holds only up to it (a
    # speed-up whose baseline parallelizes better than the candidate's work); None: the lab's
    # count, half the cores up to 8.
    max_threads: int | None = Field(default=None, ge=1)
    cpu_caveat: CpuCaveat | None = None


@dataclass
class Check:
    """One graded criterion: what was measured against what threshold, and whether it passed."""

    name: str
    passed: bool
    measured: float | int | str | None = None
    threshold: float | int | str | None = None
    unit: str = ""
    message: str = ""
    # The evidence neither clears nor misses the threshold: never a pass ("rerun on a quieter
    # machine").
    inconclusive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            measured=data.get("measured"),
            threshold=data.get("threshold"),
            unit=str(data.get("unit", "")),
            message=str(data.get("message", "")),
            inconclusive=bool(data.get("inconclusive", False)),
        )


def measured_text(value: Any, unit: str, missing: str = "-") -> str:
    """A check's measured value as shown to the user (CLI table and TUI check table alike)."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.4g} {unit}".strip()
    return f"{value} {unit}".strip()


def threshold_text(value: Any, unit: str, missing: str = "-") -> str:
    """A numeric threshold with its unit; a worded one ("±12.5 pts", "keeps up with the load")
    says its own unit."""
    return str(value) if isinstance(value, str) else measured_text(value, unit, missing)


def revealed_answer(passed: bool, details: dict[str, Any]) -> str:
    """What the grader shows only after a pass (the measured profile, the variant it drew):
    the CLI prints it under the checks, the TUI shows it on the practical's page."""
    answer = details.get("answer")
    if not passed or not isinstance(answer, list) or not answer:
        return ""
    return "\n".join(["The answer, now that you have it:", *(f"  {line}" for line in answer)])


@dataclass
class GradeContext:
    """Everything ``grader.grade(ctx)`` gets. Built by the referee, one per grade; the submission
    runs only in contestant processes started through it (see docs/lab.md)."""

    practical: PracticalSpec
    practical_dir: Path
    seed: int  # secret, from os.urandom; never leaves the referee
    device: torch.device
    harness: Harness
    log_sink: Callable[[str], None]
    contestant_options: ContestantOptions
    details: dict[str, Any] = field(default_factory=dict)
    revealed: list[str] = field(default_factory=list)
    contestants: list[Contestant] = field(default_factory=list)

    @property
    def thresholds(self) -> dict[str, float]:
        return self.practical.thresholds

    def log(self, message: str) -> None:
        """A progress line shown live to the user while grading."""
        self.log_sink(message)

    def start_contestant(
        self,
        driver: str,
        *,
        solution: str | None = None,
        init: Any = None,
        role: str = "candidate",
        cores: int | None = None,
        arena_bytes: int | None = None,
        threads: int | None = None,
        frozen: bool = False,
        loopback_tcp: bool = False,
    ) -> Contestant:
        """Start a sandboxed contestant running ``driver`` ("module:function", a public module)
        over the graded submission, or over the practical's trusted file ``solution``. It is
        pinned to the grade's idlest core(s), the same ones for every contestant; ``cores``
        asks for more (a contestant that is a group of ranks). ``arena_bytes``: shared memory
        for the large tensors of its calls (half for requests, half for replies), so that they
        do not cross the pipe. ``frozen``: stopped whenever it is not being called, its requests
        staged in the arena before the clock starts and its reply tensors read from its memory
        after it stops (``quiz.lab.referee``): for a call that moves tens of megabytes, where
        copies through the channel would be a large share of the call. ``loopback_tcp``: it
        listens and connects on 127.0.0.1 (its own loopback in the namespaces sandbox; at the
        landlock level TCP is then left open, since Landlock cannot allow only its own ports)."""
        from quiz.lab.referee import start_contestant

        options = self.contestant_options
        code = options.submission if solution is None else self.practical_dir / solution
        if solution is not None and role == "candidate":
            role = "baseline"
        contestant = start_contestant(
            options,
            driver,
            role=role,
            solution=code,
            init=init,
            cores=cores,
            arena_bytes=arena_bytes,
            threads=threads,
            frozen=frozen,
            loopback_tcp=loopback_tcp,
        )
        self.contestants.append(contestant)
        return contestant

    def start_rank_group(
        self,
        driver: str,
        world_size: int,
        *,
        solution: str | None = None,
        init: dict[str, Any] | None = None,
        role: str = "candidate",
    ) -> RankGroup:
        """Start ``world_size`` contestants, each one rank of a ``torch.distributed`` group with
        one torch thread, in a sandbox of its own (pinned to the grade's first ``world_size``
        cores), their collectives relayed and counted by the referee (``quiz.lab.rank_group``).
        The driver gets ``{"rank": r, "world_size": n, **init}``."""
        from quiz.lab.rank_group import RankGroup

        ranks = [
            self.start_contestant(
                driver,
                solution=solution,
                init={**(init or {}), "rank": rank, "world_size": world_size},
                role=role if world_size == 1 else f"{role} rank {rank}",
                cores=world_size,
                threads=1,
            )
            for rank in range(world_size)
        ]
        return RankGroup(ranks)

    def compare(
        self,
        baseline: Contestant | RankGroup,
        candidate: Contestant | RankGroup,
        endpoint: str,
        make_inputs: Callable[[int], Any],
        *,
        check: Callable[[Any, Any, Any], None] | None = None,
        label: str = "",
        threshold: float | None = None,
        max_time_s: float | None = None,
        min_trials: int | None = None,
        candidate_threads: int | None = None,
        answerers: tuple[Answerer, Answerer] | None = None,
        send: Callable[[Any], Any] | None = None,
        echo_endpoint: str | None = None,
    ) -> Comparison:
        """Time ``endpoint`` on both contestants from here, interleaved on fresh inputs, and
        measure the channel's own round trip for the same data (``channel_overhead_share``).
        ``answerers`` (baseline's, candidate's) answer the questions each call asks the referee
        (a fresh one per call, given its inputs; see ``Contestant.remote``), and the time they
        take is in the call's; ``send(inputs)`` is then what the call itself carries. A call
        that talks with the referee names the baseline's ``echo_endpoint``: the same traffic
        without the work, which is what the channel's share is measured on.

        The candidate's CPU time over the whole run must fit in its own calls at the allowed
        thread count (``candidate_threads``, default the grade's; a practical whose contestant
        is a group of processes allows their total): work done between calls (while the
        baseline is timed) or on extra threads is a SubmissionError."""
        if send is not None and echo_endpoint is None:
            raise ValueError("a call that sends part of its inputs needs an echo_endpoint")
        candidate.wait_started()
        baseline_answerer, candidate_answerer = answerers or (None, None)
        threads = candidate_threads or self.contestant_options.threads
        with self._metering(candidate, threads) as meter:
            comparison = self.harness.compare(
                meter.timed(
                    baseline.remote(endpoint, baseline_answerer, send), candidate_is_called=False
                ),
                meter.timed(
                    candidate.remote(endpoint, candidate_answerer, send), candidate_is_called=True
                ),
                make_inputs,
                check=check,
                label=label,
                threshold=threshold,
                max_time_s=max_time_s,
                min_trials=min_trials,
                wall_clock=True,
            )
        if echo_endpoint is None:
            overhead = self.harness.channel_overhead(
                baseline, endpoint, make_inputs, answerer=baseline_answerer
            )
        else:
            echo = baseline.remote(echo_endpoint, baseline_answerer, send)
            overhead = self.harness.echo_overhead(echo, make_inputs)
        comparison = comparison.with_overhead(overhead)
        self.details.setdefault("comparisons", []).append(comparison.to_dict())
        return comparison

    def compare_with_yardstick(
        self,
        baseline: Contestant | RankGroup,
        yardstick: Contestant | RankGroup,
        candidate: Contestant | RankGroup,
        endpoint: str,
        make_inputs: Callable[[int], Any],
        *,
        check: Callable[[Any, Any, Any], None] | None = None,
        labels: tuple[str, str, str] = ("", "", ""),
        threshold: float | None = None,
        max_time_s: float | None = None,
        candidate_threads: int | None = None,
    ) -> YardstickComparison:
        """Time a trusted ``yardstick`` (say a reference split), the ``baseline`` and the
        candidate in the same interleaved trials (``Harness.compare_with_yardstick``): what the
        yardstick got against the baseline tells what this machine allowed at the very moments
        the candidate was timed. ``threshold`` is the candidate's against the yardstick; each
        comparison carries the channel's share measured on its own baseline side. The candidate
        is metered as in ``compare``."""
        candidate.wait_started()
        threads = candidate_threads or self.contestant_options.threads
        with self._metering(candidate, threads) as meter:
            on_base, on_stick, on_cand = (
                meter.timed(side.remote(endpoint), candidate_is_called=side is candidate)
                for side in (baseline, yardstick, candidate)
            )
            three = self.harness.compare_with_yardstick(
                on_base,
                on_stick,
                on_cand,
                make_inputs,
                check=check,
                labels=labels,
                threshold=threshold,
                max_time_s=max_time_s,
                wall_clock=True,
            )
        on_baseline = self.harness.channel_overhead(baseline, endpoint, make_inputs)
        on_yardstick = self.harness.channel_overhead(yardstick, endpoint, make_inputs)
        three = replace(
            three,
            vs_yardstick=three.vs_yardstick.with_overhead(on_yardstick),
            vs_baseline=three.vs_baseline.with_overhead(on_baseline),
            yardstick_vs_baseline=three.yardstick_vs_baseline.with_overhead(on_baseline),
        )
        for comparison in (three.vs_yardstick, three.vs_baseline, three.yardstick_vs_baseline):
            self.details.setdefault("comparisons", []).append(comparison.to_dict())
        return three

    @contextmanager
    def _metering(self, candidate: Contestant | RankGroup, threads: int) -> Iterator[_CpuMeter]:
        """A ``_CpuMeter`` on the candidate for the timing inside the block, recorded in the
        details; SubmissionError after it if the candidate used more CPU than ``threads``
        allow, in its calls or outside them."""
        meter = _CpuMeter(candidate)
        try:
            yield meter
        finally:
            problem = meter.problem(threads)  # before the record: it reads the late processes
            self.details.setdefault("candidate_cpu", []).append(meter.to_dict())
        if problem:
            raise SubmissionError(problem)

    def reveal(self, text: str) -> None:
        """The answer, shown to the user only when the grade passes."""
        self.revealed.append(text)

    def close_contestants(self) -> None:
        for contestant in self.contestants:
            contestant.close()


class _CpuMeter:
    """The candidate's CPU time, read from /proc before and after every timed call of either
    side (the same reads on both, so both pay the same): what it used while the baseline was
    being timed, and what it used in its own calls against their wall time."""

    _SLACK = 1.25
    _GRACE_S = 0.3
    # Processes started during the timing may use no more than the candidate's own allowance
    # between calls, and at most _GRACE_S: a fixed 0.3 s was a large share of a short
    # comparison's baseline time (not refused, helper processes used 0.24-0.43 CPU-s against
    # 0.10-0.19 s of baseline calls, mostly under 0.3 s).
    _IDLE_SHARE = 0.05
    # Contestants share the baseline's core (pinned), so whatever the candidate runs between
    # its calls is taken from the baseline's timed calls: only a few clock ticks are excused.
    _IDLE_GRACE_S = 0.05
    # During the timing, at most once a second: CPU outside the calls far past what ``problem``
    # will allow stops the comparison there (late processes' CPU only grows, so past the grace
    # it is final; the idle allowance grows with the baseline's time, hence the margin).
    _EARLY_LOOK_S = 1.0
    _EARLY_IDLE_FACTOR = 3.0
    _EARLY_IDLE_MIN_S = 0.5

    def __init__(self, candidate: Contestant | RankGroup) -> None:
        self._candidate = candidate
        self._pids = candidate.processes()
        self._reaped_s = candidate.reaped_cpu_seconds(self._pids)
        self._next_look = time.monotonic() + self._EARLY_LOOK_S
        self.late_processes_s = 0.0
        self.while_baseline_s = 0.0
        self.baseline_wall_s = 0.0
        self.in_calls_s = 0.0
        self.calls_wall_s = 0.0

    def timed(
        self, call: Callable[[Any], Any], *, candidate_is_called: bool
    ) -> Callable[[Any], Any]:
        """``call`` with the candidate's CPU time read around it; a call that can be prepared
        (``RemoteEndpoint``) keeps its ``prepare``, metered around its ``run``."""
        prepare = getattr(call, "prepare", None)
        if prepare is None:
            return lambda inputs: self._metered(lambda: call(inputs), candidate_is_called)
        return _MeteredEndpoint(self, prepare, candidate_is_called)

    def _metered(self, run: Callable[[], Any], candidate_is_called: bool) -> Any:
        cpu = self._candidate.cpu_seconds(self._pids)
        start = time.perf_counter()
        try:
            result = run()
        finally:
            wall = time.perf_counter() - start
            used = self._candidate.cpu_seconds(self._pids) - cpu
            if candidate_is_called:
                self.in_calls_s += used
                self.calls_wall_s += wall
            else:
                self.while_baseline_s += used
                self.baseline_wall_s += wall
        if not candidate_is_called and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + self._EARLY_LOOK_S
            problem = self._outside_calls_problem(self._EARLY_IDLE_FACTOR, self._EARLY_IDLE_MIN_S)
            if problem:
                raise SubmissionError(problem)
        return result

    def problem(self, threads: int) -> str | None:
        outside = self._outside_calls_problem(1.0, 0.0)
        if outside:
            return outside
        calls_allowed = self.calls_wall_s * threads * self._SLACK + self._GRACE_S
        if self.in_calls_s > calls_allowed:
            return (
                f"your code used {self.in_calls_s:.1f} CPU-seconds in {self.calls_wall_s:.1f} s "
                f"of calls: more than the {threads} thread(s) the grade allows"
            )
        return None

    def _outside_calls_problem(self, idle_factor: float, idle_min_s: float) -> str | None:
        """CPU over its limit, used by the candidate while the other side was timed (the limit:
        ``idle_factor`` times its allowance, at least ``idle_min_s``) or by processes started
        during the timing (the same limit, at most ``_GRACE_S``)."""
        late = [pid for pid in self._candidate.processes() if pid not in self._pids]
        self.late_processes_s = self._candidate.cpu_seconds(late) + (
            self._candidate.reaped_cpu_seconds(self._pids) - self._reaped_s
        )
        idle_allowed = self.baseline_wall_s * self._IDLE_SHARE + self._IDLE_GRACE_S
        idle_limit = max(idle_allowed * idle_factor, idle_min_s)
        if self.late_processes_s > min(self._GRACE_S, idle_limit):
            return (
                f"processes your code started during the timing used "
                f"{self.late_processes_s:.1f} CPU-seconds: work outside its calls cannot be told "
                "apart from slowing the baseline down"
            )
        if self.while_baseline_s > idle_limit:
            return (
                f"your code used {self.while_baseline_s:.1f} CPU-seconds while it was not being "
                f"called (during {self.baseline_wall_s:.1f} s of other calls being timed): it "
                "works outside its calls, which would slow the others down"
            )
        return None

    def to_dict(self) -> dict[str, float]:
        return {
            "in_calls_cpu_s": round(self.in_calls_s, 3),
            "in_calls_wall_s": round(self.calls_wall_s, 3),
            "while_baseline_cpu_s": round(self.while_baseline_s, 3),
            "baseline_wall_s": round(self.baseline_wall_s, 3),
            "late_processes_cpu_s": round(self.late_processes_s, 3),
        }


MAX_SLACK_PTS = 5.0  # at most this much extra tolerance for a grader's own measurement noise


class _MeteredEndpoint:
    """A contestant's endpoint whose prepared calls run under a ``_CpuMeter``."""

    def __init__(self, meter: _CpuMeter, prepare: Callable[[Any], Any], candidate: bool) -> None:
        self._meter = meter
        self._prepare = prepare
        self._candidate = candidate

    def __call__(self, inputs: Any) -> Any:
        prepared = self.prepare(inputs)
        prepared.run()
        return prepared.result()

    def prepare(self, inputs: Any) -> _MeteredCall:
        return _MeteredCall(self._meter, self._prepare(inputs), self._candidate)


class _MeteredCall:
    def __init__(self, meter: _CpuMeter, prepared: Any, candidate: bool) -> None:
        self._meter = meter
        self._prepared = prepared
        self._candidate = candidate

    def run(self) -> None:
        self._meter._metered(self._prepared.run, self._candidate)

    def result(self) -> Any:
        return self._prepared.result()


def share_check(
    ctx: GradeContext,
    name: str,
    part: str,
    claimed: float,
    truth: dict[str, float],
    slack: dict[str, float],
    *,
    measured_by: str = "the grader",
) -> Check:
    """The submission's claimed share (percent) of ``part`` against the grader's ``truth``:
    within the practical's ``share_tolerance_pts``, widened by ``slack[part]`` (half of the
    disagreement between the grader's own two measurements), at most MAX_SLACK_PTS. Neither
    message gives the measured share, how far off the claim is (the claim and that distance
    give it too), nor which side it is off on: the answer is shown only after a pass (through
    ``ctx.reveal``), and a grade can pass this check and fail another. (When profile-hotspot's
    variant was the same in every grade, three regrades bisecting on "above" or "below" passed
    with no profiling.)"""
    actual = truth.get(part)
    if actual is None:
        return Check(name, False, claimed, None, "%", f"no {part!r} to compare")
    tolerance = ctx.thresholds["share_tolerance_pts"] + min(MAX_SLACK_PTS, slack[part])
    error = abs(claimed - actual)
    if error <= tolerance:
        message = (
            f"yours is within the allowed {tolerance:.1f} points of what {measured_by} measured"
        )
    else:
        message = (
            f"your {claimed:.1f}% for {part} is more than the allowed {tolerance:.1f} points "
            f"from what {measured_by} measured"
        )
    threshold = f"±{tolerance:.1f} pts"
    return Check(name, error <= tolerance, round(claimed, 2), threshold, "%", message)


def graded_in_turn(
    ctx: GradeContext, parts: list[Callable[[], list[Check]]], name: str
) -> list[Check]:
    """The checks of a grade made of parts (variants of the task, each graded on its own),
    graded in turn: a part that does not pass ends the grade there, since the rest could not
    make it pass. ``name`` names a part in the log ("server": "server 1 did not pass")."""
    checks: list[Check] = []
    for number, part in enumerate(parts, start=1):
        checks += part()
        if not all(check.passed for check in checks):
            if number < len(parts):
                ctx.log(f"{name} {number} did not pass: the grade stops here")
            break
    return checks
