"""A small text-classification inference pipeline with one planted bottleneck.

Five stages, each wrapped in a ``torch.profiler.record_function`` range of the same name, run
once per ``step`` (itself a range named ``pipeline.step``)::

    preprocess -> embed -> encoder -> head -> postprocess

``build_pipeline(seed)`` picks which stage is slow, and how slow, from the seed: a Python loop
in preprocessing, needless tensor copies in the embedding, many tiny ops in the encoder, an
oversized layer in the head, or a host sync per element in postprocessing. How much of a step
the bug takes varies widely from one seed to the next (from about half of the step to nearly
all of it), so only a measurement tells it. Weights come from the seed too; nothing is trained
or downloaded. The pipeline always runs on the CPU, so the stage costs mean the same thing on
every machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import random
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.profiler import record_function

STAGES = ("preprocess", "embed", "encoder", "head", "postprocess")
STEP_RANGE = "pipeline.step"
BOTTLENECKS = {
    "python-loop": "preprocess",
    "needless-copies": "embed",
    "tiny-ops": "encoder",
    "oversized-layer": "head",
    "host-sync": "postprocess",
}
VOCAB = 1000
DIM = 64
HIDDEN = 128
CLASSES = 32
BATCH = 16
MIN_LEN, MAX_LEN = 40, 64
# How much work each bug does, at the two ends of its range (a variant draws log-uniformly
# between them): a bug's share of a step comes out between about 50 % and 90 % on a CPU.
BUG_WORK = {
    "python-loop": (40, 250),  # rounds of a per-token Python loop
    "needless-copies": (12, 110),  # copies of the embeddings
    "tiny-ops": (32, 1),  # positions normalised per op (fewer per op: more ops)
    "oversized-layer": (900, 8000),  # width of the head's hidden layer, run on every token
    "host-sync": (3, 12),  # passes of one .item() per class over each request's probabilities
}

Batch = list[list[int]]


def make_batch(seed: int) -> Batch:
    """A batch of tokenized requests (lists of token ids of varying length)."""
    rng = random.Random(seed)
    return [
        [rng.randrange(1, VOCAB) for _ in range(rng.randint(MIN_LEN, MAX_LEN))]
        for _ in range(BATCH)
    ]


def draw_bug(seed: int) -> tuple[str, int]:
    """The variant's planted bug and how much work it does (see ``BUG_WORK``)."""
    rng = random.Random(seed)
    bottleneck = rng.choice(sorted(BOTTLENECKS))
    low, high = BUG_WORK[bottleneck]
    return bottleneck, round(math.exp(rng.uniform(math.log(low), math.log(high))))


class Pipeline:
    """Call ``step(batch)`` -> one (label, confidence) per request."""

    def __init__(self, seed: int) -> None:
        self._bottleneck, self._work = draw_bug(seed)
        generator = torch.Generator().manual_seed(seed)
        self.embedding = nn.Embedding(VOCAB, DIM)
        self.positions = nn.Parameter(torch.zeros(MAX_LEN, DIM))
        self.encoder = nn.ModuleList(_mlp(DIM, HIDDEN) for _ in range(2))
        self.norm = nn.LayerNorm(DIM)
        wide = self._work if self._bottleneck == "oversized-layer" else HIDDEN
        self.head = nn.Sequential(nn.Linear(DIM, wide), nn.GELU(), nn.Linear(wide, CLASSES))
        with torch.no_grad():
            for parameter in self._parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
        self._labels: list[str] | None = None

    @torch.no_grad()
    def step(self, batch: Batch) -> list[tuple[str, float]]:
        with record_function(STEP_RANGE):
            labels = self._label_names()
            with record_function("preprocess"):
                ids, mask = self._preprocess(batch)
            with record_function("embed"):
                x = self._embed(ids)
            with record_function("encoder"):
                x = self._encode(x, mask)
            with record_function("head"):
                logits = self._head(x, mask)
            with record_function("postprocess"):
                return self._postprocess(logits, labels)

    def _preprocess(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if self._bottleneck == "python-loop":
            rounds = self._work
            rows = []
            for seq in batch:
                row = []
                for position in range(MAX_LEN):
                    token = seq[position] if position < len(seq) else 0
                    for _ in range(rounds):  # a per-token "normalisation" done in Python
                        token = (token * 31 + 7) % VOCAB if token else 0
                    row.append(token)
                rows.append(row)
            ids = torch.tensor(rows)
        else:
            ids = nn.utils.rnn.pad_sequence([torch.tensor(seq) for seq in batch], batch_first=True)
            ids = nn.functional.pad(ids, (0, MAX_LEN - ids.shape[1]))
            ids = torch.where(ids > 0, (ids * 31 + 7) % VOCAB, ids)
        return ids, ids > 0

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids) + self.positions
        if self._bottleneck == "needless-copies":
            for _ in range(self._work):
                x = x.double().transpose(1, 2).contiguous().transpose(1, 2).contiguous().float()
                x = x.clone()
        return x

    def _encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.encoder:
            if self._bottleneck == "tiny-ops":
                x = self._norm_position_by_position(x)
            else:
                x = self.norm(x)
            x = x + layer(x)
        return x * mask.unsqueeze(-1)

    def _norm_position_by_position(self, x: torch.Tensor) -> torch.Tensor:
        """LayerNorm done a few positions at a time: the same result, in many tiny ops."""
        out = torch.empty_like(x)
        width = self._work
        for t in range(0, x.shape[1], width):
            chunk = x[:, t : t + width]
            mean = chunk.mean(-1, keepdim=True)
            var = (chunk - mean).pow(2).mean(-1, keepdim=True)
            normed = (chunk - mean) / torch.sqrt(var + 1e-5)
            out[:, t : t + width] = normed * self.norm.weight + self.norm.bias
        return out

    def _head(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self._bottleneck == "oversized-layer":
            per_token = self.head(x)  # the wide layer runs on every token, not once per request
            return (per_token * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return self.head(pooled)

    def _postprocess(self, logits: torch.Tensor, labels: list[str]) -> list[tuple[str, float]]:
        probs = logits.softmax(-1)
        if self._bottleneck == "host-sync":
            results = []
            for row in probs:
                best, best_p = 0, -1.0
                for _ in range(self._work):
                    for label in range(CLASSES):
                        p = row[label].item()  # one device-to-host sync per element
                        if p > best_p:
                            best, best_p = label, p
                results.append((labels[best], best_p))
            return results
        best_p, best = probs.max(-1)
        return [(labels[i], p) for i, p in zip(best.tolist(), best_p.tolist(), strict=True)]

    def _label_names(self) -> list[str]:
        """Built on the first step (a cold-start cost that a steady-state step does not pay)."""
        if self._labels is None:
            generator = torch.Generator().manual_seed(0)
            table = torch.randn(384, 384, generator=generator)
            for _ in range(40):
                table = torch.linalg.qr(table @ table.T + torch.eye(384)).Q
            codes = table[:CLASSES, 0].abs().mul(1e4).long().tolist()
            self._labels = [f"class-{i}-{code}" for i, code in enumerate(codes)]
        return self._labels

    def _parameters(self) -> list[nn.Parameter]:
        modules = [self.embedding, *self.encoder, self.norm, self.head]
        return [p for m in modules for p in m.parameters()] + [self.positions]


def _mlp(dim: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


def build_pipeline(seed: int) -> Pipeline:
    return Pipeline(seed)


def _keep_freed_heap() -> None:
    """Let the process keep up to 4 MiB of freed heap instead of handing it back after every
    step. The sandbox's fixed mmap threshold turns glibc's adaptive trimming off, so each of the
    embedding's 512 KiB copies faulted its pages in afresh, more in a fresh process than in a
    warm one: two contestants measured the same variant up to 10 points apart. Both the
    grader's process and yours call this before the pipeline is built."""
    m_trim_threshold = -1  # from glibc's malloc.h
    with contextlib.suppress(OSError, AttributeError):  # not glibc: its allocator stands
        ctypes.CDLL(None).mallopt(m_trim_threshold, 4 * 2**20)


def serve(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The contestant's endpoints (runs in the sandboxed contestant, never in the referee):
    ``find_hotspot(batches)`` runs ``solution.find_hotspot`` on a fresh pipeline of the user's
    variant and returns its answer."""
    find_hotspot = getattr(solution, "find_hotspot", None)
    if not callable(find_hotspot):
        raise AttributeError("solution.py must define find_hotspot(pipeline, batches)")
    seed = int(init["variant"])
    _keep_freed_heap()
    return {"find_hotspot": lambda batches: find_hotspot(build_pipeline(seed), batches)}


def measure(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The grader's measuring contestant (``solution`` is the trusted ``baseline.py``):
    ``profile(batches)`` profiles a fresh pipeline of the variant, one dict per step."""
    seed = int(init["variant"])
    _keep_freed_heap()
    return {"profile": lambda batches: solution.profile_steps(build_pipeline(seed), batches)}
