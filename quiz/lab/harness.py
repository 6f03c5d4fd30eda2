"""The shared timing harness: interleaved A/B timing with fresh inputs and a bootstrap CI.

It runs in the referee. Graders call ``ctx.compare(baseline, candidate, endpoint, ...)``, which
times contestants' endpoints through the channel, or ``ctx.harness.compare(...)`` for the
referee's own trusted functions. Every function
is called as ``fn(inputs)`` with ``inputs = make_inputs(trial_seed)`` (built outside the timed
region, once per function so an in-place candidate cannot disturb the baseline); trial seeds come
from the grade's secret seed. ``check(inputs, base_out, cand_out)`` runs on every trial, timed or
warm-up, and raises AssertionError on a mismatch (``assert_close`` does the usual tensor check).

A call is timed with ``perf_counter_ns`` in the referee, so no submission can reach the clock. A
remote call (``wall_clock=True``) is timed from request to complete reply, the contestant having
synchronised its device and materialised its output; a function with ``prepare(inputs)`` (a
contestant's endpoint) has its request encoded before the clock starts and its reply decoded
after it stops, and a frozen contestant's call ends when it has been stopped again. The
referee's own CUDA functions are timed with CUDA events. On CUDA an L2 flush (on the same GPU)
runs before every timed call, outside the timed region. Untimed warm-up trials come first (two,
or one that takes a second or more). Repetition is adaptive: trials continue
until the relative spread (IQR / median) of both sides is at most ``noise_target`` and, given a
``threshold``, the speed-up's 99.5 % CI is clear of it at a look (the minimum number of trials,
then every 1.5x more: looking often at a 95 % CI lets noise decide, see ``_STOPPING_CI_LEVEL``),
or until the round's time cap; a CI wholly
below half the threshold after three trials, or below 0.8 of it after the minimum number of
trials, ends the timing whatever the spread (a clear fail needs no more evidence; a noisy round
looks for one at a few trial counts only, since a bootstrap can cost more than a fast call);
the comparison reports the quietest round, or, where that round's CI still straddles the
threshold, every round's trials together (each trial an interleaved pair, so pooling them keeps
drift shared by a pair cancelled). ``speedup_check`` passes only when the CI's lower bound clears
the threshold and calls a CI that still straddles it inconclusive.
"""

from __future__ import annotations

import gc
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from time import perf_counter_ns
from typing import Any

import torch

from quiz.lab.api import Check, SubmissionError

Fn = Callable[[Any], Any]
MakeInputs = Callable[[int], Any]
CheckFn = Callable[[Any, Any, Any], None]

_BOOTSTRAP_RESAMPLES = 2000
# Sampling may stop early only at a few looks (the minimum trial count, then every 1.5x more),
# and only when this CI, stricter than the verdict's 95 %, is clear of the threshold: every look
# is a chance for noise to clear it. In simulation (tests/test_lab_stopping_rule.py) a candidate
# exactly at the bar passed 12-14 % of grades when a 95 % CI was looked at after every trial,
# and 2.5-4 % this way (the verdict's nominal rate is 2.5 %).
_STOPPING_CI_LEVEL = 0.995
_STOPPING_RESAMPLES = 2000  # a 0.25 % tail needs more than the 400 a clear-fail look takes
_LOOK_GROWTH = 1.5
_HARD_MIN_TRIALS = 3
_LONG_WARM_UP_S = 1.0
# A speed-up whose CI lies wholly below these shares of the threshold, after three trials and
# after the minimum number of trials, is a fail already.
_CLEAR_FAIL_SHARE = 0.5
_FAIL_SHARE = 0.8


@dataclass(frozen=True)
class Timing:
    """Per-call wall times of one function (seconds)."""

    median_s: float
    iqr_s: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
        return cls(statistics.median(samples), _iqr(samples), tuple(samples))

    @property
    def rel_spread(self) -> float:
        return self.iqr_s / self.median_s if self.median_s > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {"median_s": self.median_s, "iqr_s": self.iqr_s, "n": len(self.samples)}


@dataclass(frozen=True)
class Comparison:
    """Baseline vs candidate from one interleaved run; ``speedup`` = baseline / candidate."""

    speedup: float
    ci_low: float
    ci_high: float
    baseline: Timing
    candidate: Timing
    noisy: bool
    trials: int
    label: str = ""
    channel_overhead_s: float | None = None

    @property
    def channel_overhead_share(self) -> float | None:
        """The channel's own round trip as a share of the baseline call."""
        if self.channel_overhead_s is None or self.baseline.median_s <= 0:
            return None
        return self.channel_overhead_s / self.baseline.median_s

    def with_overhead(self, seconds: float) -> Comparison:
        return replace(self, channel_overhead_s=seconds)

    def headline(self, name: str, *, digits: int = 3) -> dict[str, Any]:
        """The speed-up as a grade's ``details["headline"]`` (what benchmarks/practicals.py
        reports), rounded to ``digits``."""
        return {
            "name": name,
            "value": round(self.speedup, digits),
            "unit": "x",
            "ci_low": round(self.ci_low, digits),
            "ci_high": round(self.ci_high, digits),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "channel_overhead_s": self.channel_overhead_s,
            "channel_overhead_share": self.channel_overhead_share,
            "speedup": self.speedup,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "noisy": self.noisy,
            "trials": self.trials,
            "baseline": self.baseline.to_dict(),
            "candidate": self.candidate.to_dict(),
        }


@dataclass(frozen=True)
class YardstickComparison:
    """A candidate, a trusted yardstick and a baseline timed in the same trials."""

    vs_yardstick: Comparison
    vs_baseline: Comparison
    yardstick_vs_baseline: Comparison


def speedup_check(name: str, comparison: Comparison, threshold: float) -> Check:
    """Pass when the CI's lower bound clears the threshold, fail when the CI is wholly below it;
    a CI that straddles it is inconclusive (never a pass): rerun on a quieter machine."""
    c = comparison
    ci = f"95% CI {c.ci_low:.2f}-{c.ci_high:.2f}x over {c.trials} trials"
    overhead = c.channel_overhead_share
    tail = f"; channel overhead {overhead:.1%} of a baseline call" if overhead is not None else ""
    if c.ci_low >= threshold:
        message = f"{c.speedup:.2f}x ({ci}) meets the {threshold:g}x threshold{tail}"
        return Check(name, True, round(c.speedup, 3), threshold, "x", message)
    if c.ci_high < threshold:
        message = f"{c.speedup:.2f}x ({ci}) is below the {threshold:g}x threshold{tail}"
        return Check(name, False, round(c.speedup, 3), threshold, "x", message)
    message = (
        f"inconclusive: {c.speedup:.2f}x ({ci}) straddles the {threshold:g}x threshold; "
        f"the machine was too noisy to decide - rerun on a quieter machine{tail}"
    )
    return Check(name, False, round(c.speedup, 3), threshold, "x", message, inconclusive=True)


def assert_close(actual: Any, expected: Any, *, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """AssertionError unless ``actual`` is a tensor matching ``expected`` in shape, dtype and
    values (NaN/inf must match exactly: a NaN where the reference has a number fails)."""
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"expected a tensor, got {type(actual).__name__}")
    if actual.shape != expected.shape:
        raise AssertionError(f"shape {tuple(actual.shape)} != expected {tuple(expected.shape)}")
    if actual.dtype != expected.dtype:
        raise AssertionError(f"dtype {actual.dtype} != expected {expected.dtype}")
    try:
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    except AssertionError as err:
        first = str(err).strip().splitlines()
        raise AssertionError(" ".join(first[:3])) from None


class Harness:
    """Times functions on one device; one instance per grade, seeded by the grade's secret."""

    def __init__(
        self,
        device: torch.device,
        *,
        seed: int,
        threads: int | None = None,
        warmup_s: float = 0.2,
        max_time_s: float = 5.0,
        min_trials: int = 10,
        max_trials: int = 300,
        noise_target: float = 0.10,
        rounds: int = 2,
    ) -> None:
        self.device = device
        self.is_cuda = device.type == "cuda"
        if threads is not None:
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()
        self.warmup_s = warmup_s
        self.max_time_s = max_time_s
        self.min_trials = min_trials
        self.max_trials = max_trials
        self.noise_target = noise_target
        self.rounds = rounds
        self._rng = random.Random(seed)
        self._l2_flush = self._make_l2_flush() if self.is_cuda else None
        self._wall_clock = False

    def channel_overhead(
        self,
        contestant: Any,
        endpoint: str,
        make_inputs: MakeInputs,
        *,
        trials: int = 7,
        answerer: Callable[[Any], Callable[[Any], Any]] | None = None,
    ) -> float:
        """Median round trip (seconds) of a call that carries one call's inputs there and brings
        that call's output back (the contestant kept it beforehand): what the channel adds to a
        timed call of ``endpoint``, without the work (and without the questions it asks, which
        ``answerer`` answers while its output is made)."""
        seed = self._rng.getrandbits(63)
        inputs = make_inputs(seed)
        asks = {} if answerer is None else {"on_ask": answerer(inputs)}
        contestant.call("__keep__", contestant.call(endpoint, inputs, **asks))
        kept = contestant.remote("__kept__")
        times = [self.timed_call(kept, inputs)[0] for _ in range(trials)]
        contestant.call("__keep__", None)
        return statistics.median(times)

    def echo_overhead(self, echo: Fn, make_inputs: MakeInputs, *, trials: int = 7) -> float:
        """Median time (seconds) of ``echo``: a call that moves what a timed call moves (its
        questions and answers included) without the work, on fresh inputs."""
        times = [
            self.timed_call(echo, make_inputs(self._rng.getrandbits(63)))[0] for _ in range(trials)
        ]
        return statistics.median(times)

    def compare(
        self,
        baseline: Fn,
        candidate: Fn,
        make_inputs: MakeInputs,
        *,
        check: CheckFn | None = None,
        label: str = "",
        threshold: float | None = None,
        max_time_s: float | None = None,
        min_trials: int | None = None,
        wall_clock: bool = False,
    ) -> Comparison:
        """Time ``baseline`` and ``candidate`` interleaved; see the module docstring."""
        base, cand = self._interleaved(
            (baseline, candidate),
            make_inputs,
            check=check,
            label=label,
            threshold=threshold,
            max_time_s=max_time_s,
            min_trials=min_trials,
            wall_clock=wall_clock,
        )
        return self._comparison(base, cand, label)

    def compare_with_yardstick(
        self,
        baseline: Fn,
        yardstick: Fn,
        candidate: Fn,
        make_inputs: MakeInputs,
        *,
        check: CheckFn | None = None,
        labels: tuple[str, str, str] = ("", "", ""),
        threshold: float | None = None,
        max_time_s: float | None = None,
        min_trials: int | None = None,
        wall_clock: bool = False,
    ) -> YardstickComparison:
        """Time all three interleaved in the same trials (each trial calls them in a fresh
        random order on the same fresh inputs), so that what the candidate and a trusted
        ``yardstick`` got against the ``baseline`` come from the same moments of the machine.
        ``check(inputs, yardstick_out, candidate_out)`` runs on every trial, and the adaptive
        stop and ``threshold`` are the candidate's against the yardstick. ``labels`` name the
        candidate vs the yardstick, the candidate vs the baseline and the yardstick vs the
        baseline."""
        stick, base, cand = self._interleaved(
            (yardstick, baseline, candidate),
            make_inputs,
            check=check,
            label=labels[0],
            threshold=threshold,
            max_time_s=max_time_s,
            min_trials=min_trials,
            wall_clock=wall_clock,
        )
        return YardstickComparison(
            vs_yardstick=self._comparison(stick, cand, labels[0]),
            vs_baseline=self._comparison(base, cand, labels[1]),
            yardstick_vs_baseline=self._comparison(base, stick, labels[2]),
        )

    def _interleaved(
        self,
        fns: tuple[Fn, ...],
        make_inputs: MakeInputs,
        *,
        check: CheckFn | None,
        label: str,
        threshold: float | None,
        max_time_s: float | None,
        min_trials: int | None,
        wall_clock: bool,
    ) -> list[list[float]]:
        """Every function's samples from the quietest round, or from every round together
        where that round's first-vs-last CI still straddles ``threshold``."""
        previous = self._wall_clock
        self._wall_clock = wall_clock
        try:
            self._warm_up(fns, make_inputs, check, label)
            best: list[list[float]] | None = None
            pooled: list[list[float]] = [[] for _ in fns]
            for _ in range(self.rounds):
                samples = self._round(
                    fns, make_inputs, check, label, max_time_s, min_trials, threshold
                )
                for everything, more in zip(pooled, samples, strict=True):
                    everything.extend(more)
                if best is None or _worst_spread(samples) < _worst_spread(best):
                    best = samples
                if self._clearly_short(_ends(best), threshold, min_trials):
                    break
                if _worst_spread(best) <= self.noise_target and not self._straddles(
                    _ends(best), threshold
                ):
                    break
        finally:
            self._wall_clock = previous
        assert best is not None
        if len(pooled[0]) > len(best[0]) and self._straddles(_ends(best), threshold):
            return pooled  # no round decided it alone: judge on all the evidence
        return best

    def _comparison(self, base: list[float], cand: list[float], label: str) -> Comparison:
        low, high = self._bootstrap_ratio_ci(base, cand)
        return Comparison(
            speedup=statistics.median(base) / statistics.median(cand),
            ci_low=low,
            ci_high=high,
            baseline=Timing.of(base),
            candidate=Timing.of(cand),
            noisy=_worst_spread([base, cand]) > self.noise_target,
            trials=len(base),
            label=label,
        )

    def time(
        self,
        fn: Fn,
        make_inputs: MakeInputs,
        *,
        label: str = "",
        max_time_s: float | None = None,
        min_trials: int | None = None,
    ) -> Timing:
        """Time one function alone (fresh inputs per trial, adaptive repetitions)."""
        self._warm_up((fn,), make_inputs, None, label)
        best: list[float] | None = None
        for _ in range(self.rounds):
            (samples,) = self._round((fn,), make_inputs, None, label, max_time_s, min_trials)
            if best is None or _worst_spread([samples]) < _worst_spread([best]):
                best = samples
            if _worst_spread([best]) <= self.noise_target:
                break
        assert best is not None
        return Timing.of(best)

    def timed_call(self, fn: Fn, inputs: Any) -> tuple[float, Any]:
        """One measured call: (seconds, output). L2 flush and synchronisation stay outside, and
        so do a prepared call's encoding and decoding."""
        prepare = getattr(fn, "prepare", None)
        if prepare is not None:
            prepared = prepare(inputs)
            seconds, _ = self._clocked(lambda _inputs: prepared.run(), None)
            return seconds, prepared.result()
        return self._clocked(fn, inputs)

    def _clocked(self, fn: Fn, inputs: Any) -> tuple[float, Any]:
        if self._l2_flush is not None:
            self._l2_flush.zero_()
            torch.cuda.synchronize(self.device)
        if self._l2_flush is not None and not self._wall_clock:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn(inputs)
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3, out
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            t0 = perf_counter_ns()
            out = fn(inputs)
            elapsed = perf_counter_ns() - t0
        finally:
            if gc_was_enabled:
                gc.enable()
        return elapsed / 1e9, out

    def _warm_up(
        self, fns: tuple[Fn, ...], make_inputs: MakeInputs, check: CheckFn | None, label: str
    ) -> None:
        """Untimed trials: two, or more until ``warmup_s`` has passed; one when it took
        ``_LONG_WARM_UP_S`` or more (what a first call initialises, a call that long has)."""
        start = perf_counter_ns()
        deadline = start + int(self.warmup_s * 1e9)
        calls = 0
        while calls < 2 or perf_counter_ns() < deadline:
            self._trial(fns, make_inputs, check, label, "warm-up")
            calls += 1
            if calls == 1 and perf_counter_ns() - start >= _LONG_WARM_UP_S * 1e9:
                break

    def _round(
        self,
        fns: tuple[Fn, ...],
        make_inputs: MakeInputs,
        check: CheckFn | None,
        label: str,
        max_time_s: float | None,
        min_trials: int | None,
        threshold: float | None = None,
    ) -> list[list[float]]:
        cap_ns = int((max_time_s if max_time_s is not None else self.max_time_s) * 1e9)
        minimum = self._minimum_trials(min_trials)
        samples: list[list[float]] = [[] for _ in fns]
        start = perf_counter_ns()
        trial = 0
        while trial < self.max_trials:
            for i, seconds in enumerate(self._trial(fns, make_inputs, check, label, trial)):
                samples[i].append(seconds)
            trial += 1
            if trial < _HARD_MIN_TRIALS:
                continue
            if perf_counter_ns() - start >= cap_ns:
                break
            pair = _ends(samples)
            if trial >= minimum and _worst_spread(samples) <= self.noise_target:
                if _is_stopping_look(trial, minimum) and not self._straddles(pair, threshold):
                    break
            # Still noisy (a straddling CI is never clearly short): a clear fail is looked for
            # at a few trial counts only, since a bootstrap can cost more than a fast call.
            elif _is_look(trial, minimum) and self._clearly_short(pair, threshold, minimum):
                break
        return samples

    def _minimum_trials(self, min_trials: int | None) -> int:
        return max(_HARD_MIN_TRIALS, min_trials if min_trials is not None else self.min_trials)

    def _straddles(self, samples: tuple[list[float], list[float]], threshold: float | None) -> bool:
        """Whether the stopping CI (99.5 %) of these samples' speed-up still contains
        ``threshold``."""
        if threshold is None or len(samples[0]) < _HARD_MIN_TRIALS or samples[0] is samples[1]:
            return False
        low, high = self._bootstrap_ratio_ci(
            samples[0], samples[1], resamples=_STOPPING_RESAMPLES, level=_STOPPING_CI_LEVEL
        )
        return low < threshold <= high

    def _clearly_short(
        self,
        samples: tuple[list[float], list[float]],
        threshold: float | None,
        min_trials: int | None,
    ) -> bool:
        """Whether the speed-up CI of these samples lies wholly below ``_CLEAR_FAIL_SHARE`` of
        ``threshold``, or below ``_FAIL_SHARE`` of it after ``min_trials`` trials."""
        trials = len(samples[0])
        if threshold is None or trials < _HARD_MIN_TRIALS or samples[0] is samples[1]:
            return False
        _, high = self._bootstrap_ratio_ci(samples[0], samples[1], resamples=400)
        share = _FAIL_SHARE if trials >= self._minimum_trials(min_trials) else _CLEAR_FAIL_SHARE
        return high < threshold * share

    def _trial(
        self,
        fns: tuple[Fn, ...],
        make_inputs: MakeInputs,
        check: CheckFn | None,
        label: str,
        trial: int | str,
    ) -> list[float]:
        seed = self._rng.getrandbits(63)
        order = list(range(len(fns)))
        self._rng.shuffle(order)
        times = [0.0] * len(fns)
        outs: list[Any] = [None] * len(fns)
        inputs: list[Any] = [None] * len(fns)
        for i in order:
            inputs[i] = make_inputs(seed)
            times[i], outs[i] = self.timed_call(fns[i], inputs[i])
        if check is not None and len(fns) >= 2:
            try:
                check(inputs[0], outs[0], outs[-1])
            except AssertionError as err:
                what = label or "candidate"
                raise SubmissionError(f"{what}: wrong result on trial {trial}: {err}") from None
        return times

    def _bootstrap_ratio_ci(
        self,
        base: list[float],
        cand: list[float],
        *,
        resamples: int = _BOOTSTRAP_RESAMPLES,
        level: float = 0.95,
    ) -> tuple[float, float]:
        """Percentile bootstrap CI of median(base)/median(cand) at ``level``, resampling trials
        in pairs so drift shared by an interleaved pair cancels."""
        b = torch.tensor(base, dtype=torch.float64)
        c = torch.tensor(cand, dtype=torch.float64)
        generator = torch.Generator().manual_seed(self._rng.getrandbits(62))
        idx = torch.randint(len(base), (resamples, len(base)), generator=generator)
        ratios = b[idx].quantile(0.5, dim=1) / c[idx].quantile(0.5, dim=1)
        tail = (1 - level) / 2
        low, high = ratios.quantile(torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
        return float(low), float(high)

    def _make_l2_flush(self) -> torch.Tensor:
        props = torch.cuda.get_device_properties(self.device)
        l2_bytes = int(getattr(props, "L2_cache_size", 0)) or 64 * 2**20
        return torch.empty(2 * l2_bytes // 4, dtype=torch.int32, device=self.device)


def _ends(samples: list[list[float]]) -> tuple[list[float], list[float]]:
    """The first function's samples and the last's: the pair a threshold is about."""
    return samples[0], samples[-1]


def _is_look(trial: int, minimum: int) -> bool:
    """The trial counts at which a noisy round looks for a clear fail: the hard minimum, the
    round's minimum and every power of two."""
    return trial in (_HARD_MIN_TRIALS, minimum) or trial & (trial - 1) == 0


def _is_stopping_look(trial: int, minimum: int) -> bool:
    """The trial counts at which a quiet round may stop: the minimum, then every 1.5x more."""
    look = float(minimum)
    while round(look) < trial:
        look *= _LOOK_GROWTH
    return round(look) == trial


def _iqr(samples: list[float]) -> float:
    if len(samples) < 2:
        return 0.0
    q = statistics.quantiles(samples, n=4, method="inclusive")
    return q[2] - q[0]


def _worst_spread(samples: list[list[float]] | tuple[list[float], ...]) -> float:
    spreads = []
    for s in samples:
        if len(s) < 2:
            return math.inf
        median = statistics.median(s)
        spreads.append(_iqr(s) / median if median > 0 else math.inf)
    return max(spreads)
