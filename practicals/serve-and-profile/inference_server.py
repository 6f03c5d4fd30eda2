"""A small HTTP inference server with one hidden latency bottleneck.

``InferenceServer(seed)`` serves ``POST /predict`` (a JSON body ``{"text": ...}``) on
127.0.0.1 at an ephemeral port. Requests go into a queue; one engine thread takes up to
``max_batch`` of them (waiting at most ``max_wait_s`` for the batch to fill), then runs one step:

    preprocess (parse + tokenize each request) -> model (one batched forward) -> serialize

Each response carries ``Server-Timing: queue;dur=<ms>, app;dur=<ms>``: the time the request
waited before its step started, and the step's duration. The step's stages are
``torch.profiler.record_function`` ranges (``engine.step``, ``preprocess``, ``model``,
``serialize``); ``POST /debug/profile/start`` with ``{"steps": N}`` profiles the next N steps
with torch.profiler in the engine thread, and ``GET /debug/profile`` returns the result.

The seed picks the hidden bottleneck (unless it is given): a batching window far too long
(queueing), a slow pure-Python tokenizer (preprocessing), an oversized model (model compute), or
a slow, verbose response encoder (serialization); its size (``SEVERITY``), and so its share of
latency; and the stage, never the bottleneck, where the first request pays a one-time setup. The server records its own timings of every request
(``request_log``); the grader compares answers against them.
"""

from __future__ import annotations

import json
import math
import os
import queue
import random
import socketserver
import statistics
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

COMPONENTS = ("queue", "preprocess", "model", "serialize")
BOTTLENECKS = ("queue", "preprocess", "model", "serialize")
STEP_RANGE = "engine.step"
STAGES = ("preprocess", "model", "serialize")
# Each bottleneck's size is drawn (log-uniform) from its range, so the share it takes is not
# known in advance: here (2 cores) about 60-92 % for queue, 56-82 % preprocess, 60-88 % model and
# 58-88 % serialize, the runner-up always 20+ points behind.
SEVERITY = {
    "queue": (0.15, 1.5),
    "preprocess": (0.6, 3.5),
    "model": (0.1, 2.5),
    "serialize": (0.35, 2.5),
}
VOCAB = 4096
TOKENS = 64
CLASSES = 16


@dataclass
class RequestTiming:
    """The server's own record of one request (seconds)."""

    arrival: float
    queue_s: float = 0.0
    preprocess_s: float = 0.0
    model_s: float = 0.0
    serialize_s: float = 0.0
    total_s: float = 0.0

    def component(self, name: str) -> float:
        return float(getattr(self, f"{name}_s"))


def p50_shares(log: list[RequestTiming]) -> dict[str, float]:
    """Per component: the median over requests of its share (%) of the request's latency."""
    return {c: statistics.median(100 * r.component(c) / r.total_s for r in log) for c in COMPONENTS}


@dataclass
class _Job:
    body: bytes
    timing: RequestTiming
    done: threading.Event = field(default_factory=threading.Event)
    response: bytes = b""
    status: int = 200


class InferenceServer:
    def __init__(
        self,
        seed: int,
        *,
        bottleneck: str | None = None,
        severity: float | None = None,
        max_batch: int = 4,
    ) -> None:
        rng = random.Random(seed)
        self.bottleneck = rng.choice(BOTTLENECKS) if bottleneck is None else bottleneck
        low, high = SEVERITY[self.bottleneck]
        drawn = math.exp(rng.uniform(math.log(low), math.log(high)))
        self._severity = drawn if severity is None else severity
        # The first request pays a one-time setup, in a stage that is not the bottleneck: a
        # measurement of a cold server points at the wrong component, not only a wrong share.
        self._cold_stage = rng.choice([stage for stage in STAGES if stage != self.bottleneck])
        self._set_up = False
        self.max_batch = 8 * max_batch if self.bottleneck == "queue" else max_batch
        self.max_wait_s = 0.05  # generous: four clients fill a batch of four well within it
        self._model = _build_model(seed, self._severity if self.bottleneck == "model" else None)
        self._vocabulary = _vocabulary()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._log: list[RequestTiming] = []
        self._log_lock = threading.Lock()
        self._profile_steps = 0
        self._profile_restart = False  # a new profile was asked for while one was running
        self._profiling_closed = False
        self._profiled = 0
        self._profile_result: dict[str, Any] | None = None
        self._profile_lock = threading.Lock()
        self._profiler_running = threading.Event()
        self._profiler_idle = threading.Event()
        self._stopping = threading.Event()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self, tcp=True))
        self._http.daemon_threads = True
        self._unix: list[socketserver.ThreadingUnixStreamServer] = []
        self._threads = [
            threading.Thread(target=self._http.serve_forever, name="http", daemon=True),
            threading.Thread(target=self._engine, name="engine", daemon=True),
        ]

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> InferenceServer:
        if self.bottleneck == "queue":
            # A batching window set far longer than a step: requests sit waiting for a batch
            # that never fills.
            self.max_wait_s = self._severity * max(0.02, 4.0 * self._time_one_step())
        for thread in self._threads:
            thread.start()
        return self

    def serve_unix(self, path: Path) -> None:
        """Also serve HTTP on a Unix socket at ``path``: the grader's way in for a sandboxed
        process that has no network of its own. Call after ``start``."""
        folder = os.open(path.parent, os.O_RDONLY)
        try:  # bound through /proc/self/fd: a socket path must be short, the folder may not be
            unix = socketserver.ThreadingUnixStreamServer(
                f"/proc/self/fd/{folder}/{path.name}", _handler_for(self, tcp=False)
            )
        finally:
            os.close(folder)
        unix.daemon_threads = True
        self._unix.append(unix)
        thread = threading.Thread(target=unix.serve_forever, name="http-unix", daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for server in (self._http, *self._unix):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> InferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request_log(self) -> list[RequestTiming]:
        with self._log_lock:
            return list(self._log)

    # -- the engine ----------------------------------------------------------------------

    def _engine(self) -> None:
        prof: profile | None = None
        while not self._stopping.is_set():
            if prof is not None and self._profile_superseded():
                prof.stop()
                prof = None
            if prof is None and self._profile_pending():
                self._profiler_idle.clear()
                with self._profile_lock:
                    self._profile_restart = False
                prof = profile(activities=[ProfilerActivity.CPU])
                prof.start()  # one session for all the requested steps
                self._profiler_running.set()
            if prof is None:
                self._profiler_idle.set()
            try:
                first = self._jobs.get(timeout=0.1)
            except queue.Empty:
                continue
            if first is None:  # a wake-up: a profile was requested or cancelled
                continue
            batch = [first]
            deadline = time.perf_counter() + self.max_wait_s
            while len(batch) < self.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    job = self._jobs.get(timeout=remaining)
                except queue.Empty:
                    break
                if job is not None:
                    batch.append(job)
            self._step(batch)
            if prof is not None and self._count_profiled_step():
                prof.stop()
                self._store_profile(prof)
                prof = None
            for job in batch:  # answered once the step (and a finished profile) is complete
                job.done.set()
        if prof is not None:
            prof.stop()

    @torch.no_grad()
    def _step(self, batch: list[_Job]) -> None:
        start = time.perf_counter()
        with record_function(STEP_RANGE):
            with record_function("preprocess"):
                self._set_up_once("preprocess")
                ids = torch.stack([self._preprocess(job.body) for job in batch])
            after_preprocess = time.perf_counter()
            with record_function("model"):
                self._set_up_once("model")
                logits = self._model(ids)
            after_model = time.perf_counter()
            with record_function("serialize"):
                self._set_up_once("serialize")
                bodies = [self._serialize(row) for row in logits]
        done = time.perf_counter()
        for job, body in zip(batch, bodies, strict=True):
            timing = job.timing
            timing.queue_s = start - timing.arrival
            timing.preprocess_s = after_preprocess - start
            timing.model_s = after_model - after_preprocess
            timing.serialize_s = done - after_model
            timing.total_s = done - timing.arrival
            job.response = body
        with self._log_lock:
            self._log.extend(job.timing for job in batch)

    def _preprocess(self, body: bytes) -> torch.Tensor:
        text = str(json.loads(body)["text"])
        if self.bottleneck == "preprocess":
            rounds = round(20 * self._severity)
            normalised = []
            for char in text:  # a per-character normaliser written in pure Python
                code = ord(char.lower())
                for _ in range(rounds):
                    code = (code * 33 + 5) % 65521
                normalised.append(char.lower() if code >= 0 else char)
            text = "".join(normalised)
        ids = [self._vocabulary.get(word, hash(word) % VOCAB) for word in text.lower().split()]
        ids = (ids + [0] * TOKENS)[:TOKENS]
        return torch.tensor(ids)

    def _serialize(self, logits: torch.Tensor) -> bytes:
        scores = logits.softmax(-1)
        label = int(scores.argmax())
        if self.bottleneck == "serialize":
            # Every hidden activation, each value formatted one by one, pretty-printed.
            features = self._model.features
            count = round(features.numel() * self._severity)
            detail = features.repeat(math.ceil(self._severity))[:count]
            values = [float(f"{v:.9f}") for v in detail.tolist()]
            return json.dumps({"label": label, "scores": values}, indent=2).encode()
        return json.dumps(
            {"label": label, "scores": [round(v, 4) for v in scores.tolist()]}
        ).encode()

    def _set_up_once(self, stage: str) -> None:
        """The one-time setup (loading tables, say) that a warmed-up server no longer pays."""
        if self._set_up or stage != self._cold_stage:
            return
        table = torch.randn(512, 512, generator=torch.Generator().manual_seed(0))
        for _ in range(40):
            table = torch.linalg.qr(table @ table.T + torch.eye(512)).Q
        self._set_up = True

    def _time_one_step(self) -> float:
        body = json.dumps({"text": "warm up " * 40}).encode()
        self._set_up_once(self._cold_stage)
        times = []
        for _ in range(3):
            jobs = [_Job(body, RequestTiming(time.perf_counter())) for _ in range(4)]
            start = time.perf_counter()
            self._step(jobs)
            times.append(time.perf_counter() - start)
        with self._log_lock:
            self._log.clear()
        self._set_up = False  # the first real request still pays the setup
        return min(times)

    # -- profiling ----------------------------------------------------------------------

    def start_profile(self, steps: int) -> bool:
        """Profile the next ``steps`` engine steps; returns once the profiler is running, so
        its start-up cost is not charged to the requests that follow. False, and nothing
        started, once profiling is closed."""
        with self._profile_lock:
            if self._profiling_closed:
                return False
            self._profile_steps = max(1, min(int(steps), 500))
            self._profile_restart = True
            self._profiled = 0
            self._profile_result = None
            self._profiler_running.clear()
        self._jobs.put(None)
        self._profiler_running.wait(timeout=30)
        return True

    def close_profiling(self) -> None:
        """Cancel a profile whose steps are not all done, refuse new ones, and return once the
        engine runs unprofiled: the grader's load tests measure the server as it is, not under a
        profiler a client left running or asks for on its way out."""
        with self._profile_lock:
            self._profiling_closed = True
            self._profile_steps = 0
        self._jobs.put(None)
        self._profiler_idle.wait(timeout=30)

    def profile_result(self) -> dict[str, Any] | None:
        with self._profile_lock:
            return None if self._profile_result is None else dict(self._profile_result)

    def _profile_pending(self) -> bool:
        with self._profile_lock:
            return self._profile_steps > 0

    def _profile_superseded(self) -> bool:
        """Whether the running profile was cancelled (``close_profiling``) or replaced by a new
        ``start_profile``."""
        with self._profile_lock:
            return self._profile_steps == 0 or self._profile_restart

    def _count_profiled_step(self) -> bool:
        """Count a profiled step; True when the requested number is reached."""
        with self._profile_lock:
            self._profiled += 1
            return self._profiled >= self._profile_steps

    def _store_profile(self, prof: profile) -> None:
        events = prof.key_averages()
        ranges = {e.key: e.cpu_time_total / 1e3 for e in events if e.key in (STEP_RANGE, *STAGES)}
        table = events.table(sort_by="cpu_time_total", row_limit=15)
        with self._profile_lock:
            self._profile_result = {"steps": self._profiled, "ranges_ms": ranges, "table": table}
            self._profile_steps = 0


def _vocabulary() -> dict[str, int]:
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghij") for _ in range(5)) for _ in range(VOCAB)]
    return {word: index for index, word in enumerate(words)}


class _Model(nn.Module):
    def __init__(self, seed: int, oversize: float | None) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        if oversize is None:
            dim, hidden, layers = 128, 256, 2
        else:
            dim, hidden, layers = 256, 64 * max(1, round(12 * oversize)), 2
        self.embedding = nn.Embedding(VOCAB, dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
            for _ in range(layers)
        )
        self.head = nn.Linear(dim, CLASSES)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
        self.features = torch.zeros(dim * TOKENS // 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids)
        for block in self.blocks:
            x = x + block(x)
        self.features = x[0].flatten()[: self.features.numel()].clone()
        return self.head(x.mean(1))


def _build_model(seed: int, oversize: float | None) -> _Model:
    return _Model(seed, oversize).eval()


def _handler_for(server: InferenceServer, *, tcp: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # A reply goes out as two writes (headers, then body). With Nagle's algorithm on, the
        # body can wait for the client's delayed ACK of the headers, about 40 ms on Linux.
        disable_nagle_algorithm = tcp

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path == "/predict":
                self._predict(body)
            elif self.path == "/debug/profile/start":
                try:
                    steps = int(json.loads(body or b"{}").get("steps", 10))
                except (ValueError, AttributeError):
                    self._send(400, b'{"error": "body must be {\\"steps\\": N}"}')
                    return
                if server.start_profile(steps):
                    self._send(200, json.dumps({"profiling_steps": steps}).encode())
                else:
                    self._send(409, b'{"error": "profiling is closed"}')
            else:
                self._send(404, b'{"error": "not found"}')

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/debug/profile":
                result = server.profile_result()
                if result is None:
                    self._send(409, b'{"error": "no finished profile; POST /debug/profile/start"}')
                else:
                    self._send(200, json.dumps(result).encode())
            elif self.path == "/health":
                self._send(200, b'{"ok": true}')
            else:
                self._send(404, b'{"error": "not found"}')

        def _predict(self, body: bytes) -> None:
            job = _Job(body, RequestTiming(time.perf_counter()))
            server._jobs.put(job)
            if not job.done.wait(timeout=60):
                self._send(503, b'{"error": "timed out"}')
                return
            timing = job.timing
            app_ms = (timing.total_s - timing.queue_s) * 1e3
            header = f"queue;dur={timing.queue_s * 1e3:.3f}, app;dur={app_ms:.3f}"
            self._send(job.status, job.response, {"Server-Timing": header})

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
