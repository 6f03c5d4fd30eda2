"""Shared by the TUI tests: a tiny bank with one question of every kind, a fake clock, an app
over a tmp database, and a text dump of the screen. Also checks the fixture bank itself."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from markdown_it import MarkdownIt
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from quiz.tui import LatencyQuizApp, StartMock, create_app
from quiz.tui.backend import Backend, PracticeFilters
from quiz.tui.widgets.question.view import QuestionView

ScreenT = TypeVar("ScreenT", bound=Screen[Any])

TINY_BANK = """\
- id: tiny-choice
  title: Latency versus throughput
  phase: foundations
  level: L1
  topic: latency-throughput
  skills: [metrics]
  kind: choice
  prompt: Which quantity is measured in requests per second?
  choices: ["Latency", "Throughput", "Jitter"]
  answer: B
  explanation: Throughput counts work per unit time. Latency is the time one request takes.
  references: ["tiny fixture"]
  time_budget_s: 60

- id: tiny-multi
  title: What a profiler shows
  phase: foundations
  level: L2
  topic: profiling
  skills: [profiling-tools]
  kind: multi
  prompt: Which of these does torch.profiler report?
  choices: ["CPU time per op", "CUDA kernel time", "The user's salary", "Memory allocated"]
  answer: [A, B, D]
  explanation: It records op and kernel times and memory. It knows nothing about salaries.
  references: ["tiny fixture"]
  time_budget_s: 60

- id: tiny-numeric
  title: Weight bytes of a model
  phase: core
  level: L2
  topic: quantization
  skills: [memory-sizing]
  kind: numeric
  prompt: How many GiB do {params_b} billion int8 weights take?
  params:
    params_b: [4, 8]
  answer:
    formula: params_b * 1e9
    unit: B
    display_unit: GiB
    tolerance: {relative: 0.02}
  explanation: One byte per int8 weight. Divide by 2**30 for GiB.
  references: ["tiny fixture"]
  time_budget_s: 90

- id: tiny-estimate
  title: Decode tokens per second
  phase: core
  level: L2
  topic: roofline
  skills: [memory-bound-decode]
  kind: estimate
  prompt: Roughly how many tokens/s does a 16 GB model decode at batch 1 on 3.2 TB/s of HBM?
  answer: {value: 200, unit: tokens/s}
  explanation: Each token reads all the weights once. 3.2 TB/s over 16 GB is 200 tokens/s.
  references: ["tiny fixture"]
  time_budget_s: 120

- id: tiny-order
  title: Steps of an inference request
  phase: advanced
  level: L3
  topic: serving
  skills: [serving-basics]
  kind: order
  prompt: Put the steps of serving one request in order.
  items: ["Tokenize the prompt", "Run prefill", "Decode tokens", "Detokenize the output"]
  explanation: The prompt is tokenized and prefilled first. Tokens are then decoded one by one.
  references: ["tiny fixture"]
  time_budget_s: 60

- id: tiny-short
  title: Why the KV cache helps
  phase: advanced
  level: L2
  topic: kv-cache
  skills: [kv-cache-basics]
  kind: short
  prompt: Why does a KV cache make decoding faster?
  answer:
    model: It stores the keys and values of past tokens so each step avoids recomputing them.
    points:
      - {text: "stores keys and values", weight: 2, phrases: ["keys and values", "kv"]}
      - {text: "avoids recomputation", weight: 2, phrases: ["recompute", "recomputing", "avoids recomputing"]}
  explanation: Without a cache every step recomputes attention inputs for the whole prefix. The
    cache trades memory for that compute.
  references: ["tiny fixture"]
  time_budget_s: 120
"""

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def write_bank(folder: Path, text: str = TINY_BANK) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def make_app(
    tmp_path: Path,
    *,
    clock: FakeClock | None = None,
    bank_text: str | None = TINY_BANK,
    start: StartMock | None = None,
    seed: int = 7,
) -> LatencyQuizApp:
    """An app over a tmp SQLite file and the tiny bank (``None``: no question files at all);
    the same database on every call with the same ``tmp_path``."""
    banks = [write_bank(tmp_path / "bank", bank_text)] if bank_text is not None else []
    return create_app(
        f"sqlite:///{tmp_path / 'quiz.db'}",
        clock=clock or FakeClock(),
        bank_paths=banks,
        start_screen=start,
        seed=seed,
    )


def current_screen(app: App[Any], kind: type[ScreenT]) -> ScreenT:
    """The screen the app shows, which must be a ``kind``."""
    screen = app.screen
    assert isinstance(screen, kind), type(screen).__name__
    return screen


async def question_view(pilot: Pilot, screen: Screen, timeout_s: float = 30) -> QuestionView:
    """The mock's question, once mounted: on a loaded machine the next question can mount a
    few frames after the workers that fetched it have finished."""
    for _ in range(int(timeout_s / 0.05)):
        views = screen.query(QuestionView)
        if views:
            return views.first()
        await pilot.pause(0.05)
    raise AssertionError(f"no question on the mock screen after {timeout_s:g} s")


def notifications(app: Any) -> list[str]:
    """The messages of the toasts shown so far (the app runs with ``notifications=True``)."""
    return [note.message for note in app._notifications]


def screen_text(app: Any) -> str:
    """What the active screen shows, as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def make_history(backend: Backend, clock: FakeClock) -> None:
    """Right choices and multis, wrong numbers, then a finished 15-minute mock."""
    for instance in backend.pick_practice(PracticeFilters(count=10)):
        if instance.kind in ("choice", "multi"):
            answer = (
                ",".join(instance.key_json()) if instance.kind == "multi" else instance.key_json()
            )
        elif instance.kind in ("numeric", "estimate"):
            answer = "1 B" if instance.kind == "numeric" else "1 tokens/s"
        else:
            continue
        backend.submit_practice(instance, answer, duration_s=20.0)
        clock.advance(60)
    mock = backend.start_mock("L2", 15)
    backend.record_mock_answer(mock, "B", final=False)
    clock.advance(120)
    backend.finish_mock(mock)


def test_tiny_bank_is_valid(tmp_path: Path) -> None:
    from quiz.bank import load_bank

    bank = load_bank([write_bank(tmp_path)])
    kinds = {q.kind for q in bank.questions.values()}
    assert kinds == {"choice", "multi", "numeric", "estimate", "order", "short"}


def correct_keys(instance: Any, shown_order: list[str] | None = None) -> list[str]:
    """Key presses that give the right answer to ``instance`` in its answer widget."""
    key = instance.key_json()
    if instance.kind == "choice":
        return [key.lower()]
    if instance.kind == "multi":
        return [option.lower() for option in key]
    if instance.kind in ("numeric", "estimate"):
        return list(f"{key['value']:.6g} {key['unit']}")
    if instance.kind == "short":
        return [" " if ch == " " else ch for ch in instance.model_answer.strip()]
    if instance.kind == "order":
        return order_keys(shown_order or [c.id for c in instance.choices], list(key))
    raise AssertionError(f"no keys for {instance.kind}")


def order_keys(shown: list[str], wanted: list[str]) -> list[str]:
    """Selection sort with the order widget's keys: move the highlight, then ``[`` up."""
    current, keys, highlight = list(shown), [], 0
    for target, item in enumerate(wanted):
        source = current.index(item)
        keys += (
            ["down"] * (source - highlight)
            if source >= highlight
            else ["up"] * (highlight - source)
        )
        keys += ["left_square_bracket"] * (source - target)
        current.insert(target, current.pop(source))
        highlight = target
    return keys


def slow_markdown_parsing(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Textual parses Markdown in a thread; make each parse take ``seconds`` longer, as on a
    loaded machine, where a widget's text arrives after the first refresh."""
    parse = MarkdownIt.parse

    def slow_parse(self: MarkdownIt, *args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return parse(self, *args, **kwargs)

    monkeypatch.setattr(MarkdownIt, "parse", slow_parse)
