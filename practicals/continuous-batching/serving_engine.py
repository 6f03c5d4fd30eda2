"""A serving-engine simulator for scheduler design: it replays a seeded Poisson trace and asks a
scheduler, once per iteration, which requests prefill (and how many tokens), which decode, and
which to preempt. The engine owns the paged KV cache and refuses any step that would exceed it.

THIS IS A MODEL, NOT A MEASUREMENT. Each iteration costs what a roofline model of a named GPU
says (``CostModel``: weights and KV bytes at the facts file's HBM bandwidth, FLOPs at its dense
peak, each scaled by a stated efficiency), so no GPU is needed and a run is deterministic.
Pure Python; the grader, the tests and the user's experiments import it. The grader runs the
engine in its own process and a submitted scheduler in a sandboxed one (``serve`` below).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import yaml

from quiz.config import facts_path

GPU_NAME = "H100_SXM"
MODEL_NAME = "Llama-3-8B"


class SchedulerError(Exception):
    """The scheduler asked for something impossible (unknown request, chunk too long, ...)."""


class KVBudgetExceeded(SchedulerError):
    """A step needed more KV blocks than were free: the engine refused it."""


@dataclass(frozen=True)
class CostModel:
    """Roofline step cost of one engine iteration on ``gpu`` serving ``model`` in bf16."""

    gpu: str
    model: str
    params: float
    layers: int
    attn_dim: int  # query heads x head dim
    kv_bytes_per_token: int
    bandwidth: float  # B/s, peak HBM
    flops: float  # FLOP/s, peak dense bf16
    hbm_efficiency: float = 0.8
    compute_efficiency: float = 0.5
    step_overhead_s: float = 0.5e-3

    @classmethod
    def from_facts(cls, gpu: str = GPU_NAME, model: str = MODEL_NAME) -> CostModel:
        with facts_path().open(encoding="utf-8") as handle:
            facts = yaml.safe_load(handle)
        g, m = facts["gpus"][gpu], facts["models"][model]
        return cls(
            gpu=gpu,
            model=model,
            params=float(m["total_params"]),
            layers=int(m["num_hidden_layers"]),
            attn_dim=int(m["num_attention_heads"]) * int(m["head_dim"]),
            kv_bytes_per_token=int(m["kv_bytes_per_token_fp16"]),
            bandwidth=float(g["memory_bw_tbs"]) * 1e12,
            flops=float(g["bf16_tflops_dense"]) * 1e12,
        )

    def step_s(self, decode_contexts: Iterable[int], chunks: Iterable[tuple[int, int]]) -> float:
        """Seconds for one iteration: one token for each decoding sequence (its context given)
        and prefill chunks given as (tokens already cached, new tokens)."""
        tokens = 0
        attended = 0.0  # sum over new tokens of the positions each attends to
        kv_read = 0
        for context in decode_contexts:
            tokens += 1
            attended += context
            kv_read += context
        for cached, new in chunks:
            tokens += new
            attended += new * (cached + (new + 1) / 2)
            kv_read += cached
        if tokens == 0:
            return 0.0
        flops = 2 * self.params * tokens + 4 * self.layers * self.attn_dim * attended
        moved = 2 * self.params + self.kv_bytes_per_token * (kv_read + tokens)
        compute = flops / (self.flops * self.compute_efficiency)
        memory = moved / (self.bandwidth * self.hbm_efficiency)
        return max(compute, memory) + self.step_overhead_s


@dataclass(frozen=True)
class TraceConfig:
    """Poisson arrivals; prompt and output lengths log-normal, clipped."""

    requests: int = 400
    rate: float = 12.0  # requests/s
    prompt_median: float = 512
    prompt_sigma: float = 1.0
    prompt_range: tuple[int, int] = (16, 4096)
    output_median: float = 128
    output_sigma: float = 1.0
    output_range: tuple[int, int] = (2, 1024)


@dataclass(frozen=True)
class TraceRequest:
    id: int
    arrival_s: float
    prompt_len: int
    output_len: int  # hidden from schedulers: a server does not know when EOS comes


def make_trace(seed: int, config: TraceConfig | None = None) -> tuple[TraceRequest, ...]:
    cfg = config or TraceConfig()
    rng = random.Random(seed)
    now = 0.0
    trace = []
    for i in range(cfg.requests):
        now += rng.expovariate(cfg.rate)
        prompt = _lognormal(rng, cfg.prompt_median, cfg.prompt_sigma, cfg.prompt_range)
        output = _lognormal(rng, cfg.output_median, cfg.output_sigma, cfg.output_range)
        trace.append(TraceRequest(i, now, prompt, output))
    return tuple(trace)


def make_burst(seed: int, requests: int = 48) -> tuple[TraceRequest, ...]:
    """A burst: ``requests`` long prompts arriving within 100 ms, two to three times what the KV
    cache holds at once, so a scheduler that admits without counting blocks runs out."""
    rng = random.Random(seed)
    return tuple(
        TraceRequest(i, rng.uniform(0.0, 0.1), rng.randint(1024, 4096), rng.randint(16, 256))
        for i in range(requests)
    )


def make_flood(seed: int, requests: int = 400) -> tuple[TraceRequest, ...]:
    """A flood of short chat turns: ``requests`` prompts of 128-768 tokens with 32-256-token
    answers arriving within 100 ms, far more than the KV cache holds at once, so that how many
    sequences a scheduler fits in it sets the throughput."""
    rng = random.Random(seed)
    return tuple(
        TraceRequest(i, rng.uniform(0.0, 0.1), rng.randint(128, 768), rng.randint(32, 256))
        for i in range(requests)
    )


def _lognormal(rng: random.Random, median: float, sigma: float, bounds: tuple[int, int]) -> int:
    value = round(median * math.exp(rng.gauss(0.0, sigma)))
    return min(max(value, bounds[0]), bounds[1])


@dataclass(frozen=True)
class EngineConfig:
    """What a scheduler may rely on. KV memory comes in ``num_blocks`` blocks of
    ``block_size`` tokens; a sequence holding k tokens of KV holds ceil(k / block_size) blocks."""

    block_size: int = 16
    num_blocks: int = 2816
    max_output_tokens: int = 1024  # the API's max_tokens: no output is longer
    cost: CostModel = field(default_factory=CostModel.from_facts)

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size)


@dataclass(frozen=True, slots=True)
class RequestView:
    """A read-only snapshot of one request. ``prefill_target`` is how many tokens must be in the
    KV cache before the next output token: the prompt, plus the tokens generated so far when
    the request was preempted (recompute)."""

    id: int
    arrival_s: float
    prompt_len: int
    prefill_target: int
    prefilled: int
    generated: int
    kv_tokens: int
    blocks: int
    preemptions: int

    @property
    def remaining_prefill(self) -> int:
        return self.prefill_target - self.prefilled

    @property
    def decoding(self) -> bool:
        return self.remaining_prefill == 0


@dataclass(frozen=True)
class EngineState:
    """The engine at an iteration boundary. ``waiting`` (arrival order) hold no KV: new or
    preempted requests. ``running`` (admission order) hold KV: mid-prefill or decoding."""

    now_s: float
    free_blocks: int
    config: EngineConfig
    waiting: tuple[RequestView, ...]
    running: tuple[RequestView, ...]


@dataclass
class StepPlan:
    """One iteration: ``prefill`` maps request id -> new prompt tokens to process (a chunk),
    ``decode`` lists decoding requests that each produce one token, ``preempt`` lists running
    requests whose KV is freed first (they return to waiting and recompute later)."""

    prefill: dict[int, int] = field(default_factory=dict)
    decode: list[int] = field(default_factory=list)
    preempt: list[int] = field(default_factory=list)


class Scheduler(Protocol):
    def schedule(self, state: EngineState) -> StepPlan: ...


@dataclass
class _Request:
    trace: TraceRequest
    prefill_target: int = 0
    prefilled: int = 0
    generated: int = 0
    kv_tokens: int = 0
    blocks: int = 0
    preemptions: int = 0
    token_times: list[float] = field(default_factory=list)
    view: RequestView | None = None

    def snapshot(self) -> RequestView:
        if self.view is None:
            t = self.trace
            self.view = RequestView(
                t.id, t.arrival_s, t.prompt_len, self.prefill_target, self.prefilled,
                self.generated, self.kv_tokens, self.blocks, self.preemptions,
            )  # fmt: skip
        return self.view


@dataclass(frozen=True)
class RunResult:
    """What one replay measured (in simulated seconds)."""

    completed: int
    total: int
    ttft_s: tuple[float, ...]  # per completed request
    tpot_s: tuple[float, ...]  # every gap between consecutive output tokens
    output_tokens: int
    makespan_s: float  # first arrival to last token
    peak_blocks: int
    steps: int
    preemptions: int
    fingerprint: str  # hash of every token's timestamp: equal runs give equal fingerprints
    error: str | None = None  # why the replay stopped early, if it did
    kv_violation: str | None = None

    @property
    def throughput(self) -> float:
        """Output tokens per simulated second."""
        return self.output_tokens / self.makespan_s if self.makespan_s > 0 else 0.0

    def p99_ttft(self) -> float:
        return percentile(self.ttft_s, 0.99)

    def p99_tpot(self) -> float:
        return percentile(self.tpot_s, 0.99)


def percentile(values: tuple[float, ...], q: float) -> float:
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


class Engine:
    """Replays ``trace`` under a scheduler. Simulated time is capped (default: 20x the trace's
    span + 60 s) and so are consecutive steps that do no work (the scheduler is stuck) and,
    given ``max_steps``, the number of iterations."""

    def __init__(
        self,
        trace: tuple[TraceRequest, ...],
        config: EngineConfig,
        *,
        max_sim_s: float | None = None,
        max_idle_steps: int = 1000,
        max_steps: int | None = None,
    ) -> None:
        self.trace = trace
        self.config = config
        span = max(t.arrival_s for t in trace)
        self.max_sim_s = max_sim_s if max_sim_s is not None else 20 * span + 60
        self.max_idle_steps = max_idle_steps
        self.max_steps = max_steps

    def run(self, scheduler: Scheduler) -> RunResult:
        return _Replay(self).run(scheduler)


class _Replay:
    """One run's mutable state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cfg = engine.config
        self.requests = {t.id: _Request(t, prefill_target=t.prompt_len) for t in engine.trace}
        self.arrivals = sorted(engine.trace, key=lambda t: (t.arrival_s, t.id))
        self.waiting: dict[int, _Request] = {}
        self.running: dict[int, _Request] = {}
        self.waiting_views: tuple[RequestView, ...] | None = ()
        self.free = self.cfg.num_blocks
        self.now = 0.0
        self.next_arrival = self.done = self.steps = self.idle = self.peak = 0

    def run(self, scheduler: Scheduler) -> RunResult:
        error = violation = None
        total = len(self.requests)
        while self.done < total:
            self._admit_arrivals()
            if not self.waiting and not self.running:
                self.now = self.arrivals[self.next_arrival].arrival_s
                continue
            if self.now > self.engine.max_sim_s or self.idle > self.engine.max_idle_steps:
                stuck = " (the scheduler made no progress)" if self.idle else ""
                error = (
                    f"stopped after {self.now:.0f} simulated seconds with "
                    f"{total - self.done} of {total} requests unfinished{stuck}"
                )
                break
            if self.engine.max_steps is not None and self.steps >= self.engine.max_steps:
                error = (
                    f"stopped after {self.steps} iterations with {total - self.done} of {total} "
                    "requests unfinished (far more iterations than a batching scheduler needs)"
                )
                break
            try:
                work = self._apply(scheduler.schedule(self._state()))
            except KVBudgetExceeded as err:
                violation = str(err)
                break
            except SchedulerError as err:
                error = f"invalid step at t={self.now:.3f} s: {err}"
                break
            self.steps += 1
            if work is None:
                self.idle += 1
                if self.next_arrival < len(self.arrivals):
                    self.now = max(self.now, self.arrivals[self.next_arrival].arrival_s)
                continue
            self.idle = 0
            decodes, chunks = work
            self.now += self.cfg.cost.step_s(
                (self.requests[r].kv_tokens for r in decodes),
                ((self.requests[r].kv_tokens, n) for r, n in chunks),
            )
            self._advance(decodes, chunks)
        return _result(self, error, violation)

    def _admit_arrivals(self) -> None:
        while (
            self.next_arrival < len(self.arrivals)
            and self.arrivals[self.next_arrival].arrival_s <= self.now
        ):
            rid = self.arrivals[self.next_arrival].id
            self.waiting[rid] = self.requests[rid]
            self.waiting_views = None
            self.next_arrival += 1

    def _state(self) -> EngineState:
        if self.waiting_views is None:
            views = (r.snapshot() for r in self.waiting.values())
            self.waiting_views = tuple(sorted(views, key=lambda v: (v.arrival_s, v.id)))
        running = tuple(r.snapshot() for r in self.running.values())
        return EngineState(self.now, self.free, self.cfg, self.waiting_views, running)

    def _apply(self, plan: StepPlan) -> tuple[list[int], list[tuple[int, int]]] | None:
        """Validate the plan, preempt, and check the KV budget; the work to run, or None."""
        if not isinstance(plan, StepPlan):
            raise SchedulerError(f"schedule() must return a StepPlan, not {type(plan).__name__}")
        decodes = [int(r) for r in plan.decode]
        chunks = [(int(r), int(n)) for r, n in plan.prefill.items()]
        preempt = [int(r) for r in plan.preempt]
        if len(set(decodes)) != len(decodes) or len(set(preempt)) != len(preempt):
            raise SchedulerError("a request is listed twice")
        chunk_ids = {r for r, _ in chunks}
        if set(preempt) & (chunk_ids | set(decodes)):
            raise SchedulerError("a preempted request cannot also run in the same step")
        if set(decodes) & chunk_ids:
            raise SchedulerError("a request cannot prefill and decode in the same step")
        for rid in preempt:
            self._preempt(rid)
        needed = 0
        for rid, n in chunks:
            req = self.waiting.get(rid) or self.running.get(rid)
            if req is None:
                raise SchedulerError(f"request {rid} has not arrived or has finished")
            left = req.prefill_target - req.prefilled
            if not 0 < n <= left:
                raise SchedulerError(f"request {rid}: a chunk of {n} tokens, but {left} remain")
            needed += self.cfg.blocks_for(req.kv_tokens + n) - req.blocks
        for rid in decodes:
            req = self.running.get(rid)
            if req is None or req.prefilled < req.prefill_target:
                raise SchedulerError(f"request {rid} is not decoding (waiting or in prefill)")
            needed += self.cfg.blocks_for(req.kv_tokens + 1) - req.blocks
        if needed > self.free:
            raise KVBudgetExceeded(
                f"a step at t={self.now:.3f} s needed {needed} KV blocks but only {self.free} "
                f"of {self.cfg.num_blocks} were free"
            )
        if not chunks and not decodes:
            return None
        for rid in chunk_ids & self.waiting.keys():
            self.running[rid] = self.waiting.pop(rid)
            self.waiting_views = None
        return decodes, chunks

    def _preempt(self, rid: int) -> None:
        req = self.running.pop(rid, None)
        if req is None:
            raise SchedulerError(f"request {rid} is not running, so it cannot be preempted")
        self.free += req.blocks
        req.blocks = req.kv_tokens = req.prefilled = 0
        req.prefill_target = req.trace.prompt_len + req.generated
        req.preemptions += 1
        req.view = None
        self.waiting[rid] = req
        self.waiting_views = None

    def _advance(self, decodes: list[int], chunks: list[tuple[int, int]]) -> None:
        """Write the step's KV, emit its tokens at ``now``, retire finished requests."""
        emitting = []
        for rid, n in chunks:
            req = self.requests[rid]
            req.prefilled += n
            req.kv_tokens += n
            self._resize(req)
            if req.prefilled == req.prefill_target:
                emitting.append(req)
        for rid in decodes:
            req = self.requests[rid]
            req.kv_tokens += 1
            req.prefilled += 1
            req.prefill_target += 1
            self._resize(req)
            emitting.append(req)
        self.peak = max(self.peak, self.cfg.num_blocks - self.free)
        for req in emitting:
            req.generated += 1
            req.token_times.append(self.now)
            if req.generated == req.trace.output_len:
                self.free += req.blocks
                req.blocks = 0
                del self.running[req.trace.id]
                self.done += 1

    def _resize(self, req: _Request) -> None:
        blocks = self.cfg.blocks_for(req.kv_tokens)
        self.free -= blocks - req.blocks
        req.blocks = blocks
        req.view = None


def _result(replay: _Replay, error: str | None, violation: str | None) -> RunResult:
    ttft: list[float] = []
    tpot: list[float] = []
    digest, tokens, last = hashlib.sha256(), 0, 0.0
    for rid in sorted(replay.requests):
        req = replay.requests[rid]
        digest.update(repr((rid, req.token_times)).encode())
        tokens += len(req.token_times)
        if req.generated == req.trace.output_len:
            ttft.append(req.token_times[0] - req.trace.arrival_s)
            tpot.extend(b - a for a, b in zip(req.token_times, req.token_times[1:], strict=False))
            last = max(last, req.token_times[-1])
    first = min(t.arrival_s for t in replay.engine.trace)
    return RunResult(
        completed=replay.done,
        total=len(replay.requests),
        ttft_s=tuple(ttft),
        tpot_s=tuple(tpot),
        output_tokens=tokens,
        makespan_s=max(0.0, last - first),
        peak_blocks=replay.peak,
        steps=replay.steps,
        preemptions=sum(r.preemptions for r in replay.requests.values()),
        fingerprint=digest.hexdigest()[:16],
        error=error,
        kv_violation=violation,
    )


class StaticBatching:
    """The baseline: request-level (static) batching as before Orca. When the previous batch
    has fully drained, take waiting requests in arrival order while their worst-case KV
    (prompt + max output tokens) fits, prefill them whole in one step, then decode until every
    one has finished; nothing joins a running batch."""

    def __init__(self, config: EngineConfig, max_batch: int = 256) -> None:
        self.config = config
        self.max_batch = max_batch

    def schedule(self, state: EngineState) -> StepPlan:
        if state.running:
            return StepPlan(decode=[r.id for r in state.running])
        plan, reserved = StepPlan(), 0
        for req in state.waiting[: self.max_batch]:
            worst = self.config.blocks_for(req.prompt_len + self.config.max_output_tokens)
            if reserved + worst > state.free_blocks:
                break
            reserved += worst
            plan.prefill[req.id] = req.remaining_prefill
        return plan


class ReservingBatching:
    """Continuous batching the way it was done before paged KV (Orca, and vLLM's paper's
    baselines): every step decodes each running sequence, and a waiting request is admitted
    (with chunked prefill) only when its worst case, prompt + ``max_output_tokens``, fits in
    what the running requests have not reserved; it never needs to preempt, and the cache
    mostly holds reservations that outputs never fill."""

    def __init__(self, config: EngineConfig, chunk_size: int = 256) -> None:
        self.config = config
        self.chunk_size = chunk_size

    def _reservation(self, req: RequestView) -> int:
        return self.config.blocks_for(req.prompt_len + self.config.max_output_tokens)

    def schedule(self, state: EngineState) -> StepPlan:
        plan = StepPlan(decode=[r.id for r in state.running if r.decoding])
        unreserved = self.config.num_blocks - sum(self._reservation(r) for r in state.running)
        budget = self.chunk_size
        for req in state.running:
            if budget and not req.decoding:
                plan.prefill[req.id] = take = min(budget, req.remaining_prefill)
                budget -= take
        for req in state.waiting:
            if not budget or self._reservation(req) > unreserved:
                break
            plan.prefill[req.id] = take = min(budget, req.remaining_prefill)
            budget -= take
            unreserved -= self._reservation(req)
        return plan


# -- plain data across the lab's channel ------------------------------------------------------
# The engine (and its trace and cost model) runs in the grader's process; a submitted scheduler
# runs in a sandboxed contestant process and sees each iteration's state as plain data, rebuilt
# there into the same classes. Nothing it changes there reaches the engine.


def config_to_plain(config: EngineConfig) -> dict[str, Any]:
    return asdict(config)


def config_from_plain(data: dict[str, Any]) -> EngineConfig:
    fields = dict(data)
    cost = CostModel(**fields.pop("cost"))
    return EngineConfig(**fields, cost=cost)


class StateEncoder:
    """The referee's side of one replay's states: each state as plain data carrying only the
    request views that changed since the previous state (a view object is replaced whenever its
    request changes), plus the waiting and running ids in order."""

    def __init__(self) -> None:
        self._sent: dict[int, RequestView] = {}

    def encode(self, state: EngineState) -> dict[str, Any]:
        changed = []
        for view in (*state.waiting, *state.running):
            if self._sent.get(view.id) is not view:
                self._sent[view.id] = view
                changed.append([getattr(view, name) for name in RequestView.__slots__])
        return {
            "now_s": state.now_s,
            "free_blocks": state.free_blocks,
            "changed": changed,
            "waiting": [view.id for view in state.waiting],
            "running": [view.id for view in state.running],
        }


class StateDecoder:
    """The contestant's side: rebuilds each ``EngineState`` from ``StateEncoder``'s data."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._views: dict[int, RequestView] = {}

    def decode(self, data: dict[str, Any]) -> EngineState:
        for row in data["changed"]:
            self._views[row[0]] = RequestView(*row)
        return EngineState(
            now_s=float(data["now_s"]),
            free_blocks=int(data["free_blocks"]),
            config=self.config,
            waiting=tuple(self._views[rid] for rid in data["waiting"]),
            running=tuple(self._views[rid] for rid in data["running"]),
        )


def plan_to_plain(plan: StepPlan) -> dict[str, list[Any]]:
    if not isinstance(plan, StepPlan):
        raise TypeError(f"schedule() must return a StepPlan, not {type(plan).__name__}")
    return {
        "prefill": [[rid, tokens] for rid, tokens in plan.prefill.items()],
        "decode": list(plan.decode),
        "preempt": list(plan.preempt),
    }


def plan_from_plain(data: Any) -> StepPlan:
    """A StepPlan from a contestant's reply; SchedulerError if it is not one."""
    try:
        pairs = [(_request_id(rid), _request_id(tokens)) for rid, tokens in data["prefill"]]
        plan = StepPlan(
            prefill=dict(pairs),
            decode=[_request_id(rid) for rid in data["decode"]],
            preempt=[_request_id(rid) for rid in data["preempt"]],
        )
    except (KeyError, TypeError, ValueError):
        raise SchedulerError(
            "schedule() must return a StepPlan of request ids and token counts"
        ) from None
    if len(plan.prefill) != len(pairs):
        raise SchedulerError("a request is listed twice")
    return plan


def _request_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    return value


def serve(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The contestant's endpoints (runs in the sandboxed contestant, never in the referee):
    ``start(kwargs)`` builds a fresh ``solution.Scheduler(config, **kwargs)`` for one replay;
    ``schedule(state)`` asks it for the next step."""
    scheduler_class = getattr(solution, "Scheduler", None)
    if not callable(scheduler_class):
        raise AttributeError("solution.py must define class Scheduler(config, chunk_size=256)")
    config = config_from_plain(init["config"])
    current: list[Any] = []

    def start(kwargs: dict[str, Any]) -> None:
        current[:] = [scheduler_class(config, **kwargs), StateDecoder(config)]

    def schedule(state: dict[str, Any]) -> dict[str, list[Any]]:
        scheduler, decoder = current
        return plan_to_plain(scheduler.schedule(decoder.decode(state)))

    return {"start": start, "schedule": schedule}
