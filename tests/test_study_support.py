"""Shared by the store and study tests: a tiny in-test bank and a fresh store over a tmp SQLite
file. Also checks the tiny bank itself."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from quiz.bank import Bank, Instance, Question
from quiz.bank.schema import MODELS
from quiz.store import Store, open_store

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)  # a Monday, noon UTC

EXPLANATION = "This is the first sentence of the explanation. This is the second sentence of it."


def question(
    qid: str,
    kind: str = "choice",
    *,
    phase: str = "foundations",
    level: str = "L1",
    topic: str = "profiling",
    budget: int = 60,
    prompt: str = "Which option is right?",
) -> Question:
    """A valid question of ``kind``; choice keys are always B, numeric keys 128 KiB."""
    data: dict[str, Any] = {
        "id": qid,
        "title": f"Question {qid}",
        "phase": phase,
        "level": level,
        "topic": topic,
        "skills": ["skill-a"],
        "kind": kind,
        "prompt": prompt,
        "explanation": EXPLANATION,
        "references": ["tiny test bank"],
        "time_budget_s": budget,
    }
    if kind == "choice":
        data |= {"choices": ["wrong", "right", "also wrong"], "answer": "B"}
    elif kind == "numeric":
        data |= {"answer": {"value": 128, "unit": "KiB", "tolerance": {"relative": 0.02}}}
    elif kind == "short":
        data["answer"] = {
            "model": "Latency is the time one request takes.",
            "points": [{"text": "time", "weight": 1, "phrases": ["time one request takes"]}],
        }
    elif kind == "practical":
        data["practical"] = qid
    return MODELS[kind].model_validate(data)


def right_answer(instance: Instance) -> str:
    """A fully correct answer (choice options are shuffled per seed, so ask the key)."""
    return {
        "choice": str(instance.key),
        "numeric": "128 KiB",
        "short": "latency is the time one request takes",
    }[instance.kind]


def wrong_answer(instance: Instance) -> str:
    if instance.kind == "choice":
        return next(c.id for c in instance.choices if c.id != instance.key)
    return {"numeric": "1 KiB", "short": "no idea"}[instance.kind]


def tiny_bank() -> Bank:
    return Bank(
        [
            question("f-choice", topic="latency-throughput"),
            question("f-short", "short", topic="latency-throughput"),
            question("f-numeric", "numeric", level="L2"),
            question("serve-and-profile", "practical", level="L2", budget=900),
            question("c-choice", phase="core", level="L2", topic="quantization"),
            question("c-numeric", "numeric", phase="core", level="L2", topic="kv-cache"),
            question("a-choice", phase="advanced", level="L3", topic="kernels"),
        ]
    )


def fresh_store(db_url: str, bank: Bank | None = None) -> Store:
    store = open_store(db_url)
    store.sync_bank(bank or tiny_bank())
    return store


def test_tiny_bank_has_every_phase_and_the_kinds_the_tests_use() -> None:
    bank = tiny_bank()
    assert {q.phase for q in bank} == {"foundations", "core", "advanced"}
    assert {q.kind for q in bank} == {"choice", "short", "numeric", "practical"}


def build_history(store: Store, bank: Bank) -> None:
    """A few weeks of use: practice answers on several days, a finished mock interview,
    practical runs with device stamps and a plan."""
    from datetime import timedelta

    from quiz.bank import instantiate
    from quiz.study.mock import finish_mock, record_mock_answer, start_mock
    from quiz.study.plan import set_plan
    from quiz.study.practice import submit_answer, submit_practical_run

    set_plan(store, (T0 - timedelta(days=20)).date(), (T0 + timedelta(days=40)).date(), now=T0)
    right = {"f-choice": True, "c-choice": False, "f-numeric": True, "a-choice": True}
    for day in range(0, 21, 3):
        for offset, (qid, is_right) in enumerate(right.items()):
            when = T0 - timedelta(days=20 - day, minutes=-offset)
            instance = instantiate(bank.get(qid), day)
            text = right_answer(instance) if is_right else wrong_answer(instance)
            submit_answer(store, instance, text, duration_s=40, mode="practice", now=when)
    stamp = {"device": "cpu", "device_name": "Test CPU 9000", "torch": "2.13.0"}
    submit_practical_run(
        store,
        "serve-and-profile",
        {"passed": False, "score": 0.5, "device": stamp},
        "workspace",
        now=T0 - timedelta(days=2),
    )
    submit_practical_run(
        store,
        "serve-and-profile",
        {"passed": True, "score": 1.0, "device": stamp},
        "workspace",
        now=T0 - timedelta(days=1),
    )
    clock = [T0 - timedelta(hours=2)]
    mock = start_mock(store, bank, level="L2", minutes=4, seed=9, clock=lambda: clock[0])
    for item in list(mock.items):
        clock[0] += timedelta(seconds=30)
        instance = mock.instance(bank)
        record_mock_answer(
            store, bank, mock, right_answer(instance) if item.kind == "choice" else ""
        )
    finish_mock(store, mock)
