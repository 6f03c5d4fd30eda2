"""Choosing practice questions and recording practical results."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from quiz.bank import Question, instantiate
from quiz.store import Store
from quiz.study.practice import pick_questions, submit_answer, submit_practical_run
from tests.test_study_support import T0, fresh_store, right_answer, tiny_bank, wrong_answer

BANK = tiny_bank()


@pytest.fixture
def store(db_url: str) -> Store:
    return fresh_store(db_url, BANK)


def ids(picks: list[tuple[Question, int]]) -> list[str]:
    return [q.id for q, _ in picks]


def test_filters_limit_and_practicals_left_out_by_default(store: Store) -> None:
    picks = pick_questions(store, BANK, n=10, now=T0)
    assert sorted(ids(picks)) == sorted(q.id for q in BANK if q.kind != "practical")
    assert ids(pick_questions(store, BANK, n=10, phase="core", now=T0)) != []
    assert {q.phase for q, _ in pick_questions(store, BANK, n=10, phase="core", now=T0)} == {"core"}
    assert len(pick_questions(store, BANK, n=2, now=T0)) == 2
    only = pick_questions(store, BANK, n=5, kind="practical", exclude_kinds=(), now=T0)
    assert ids(only) == ["serve-and-profile"]


def test_seeds_vary_per_pick(store: Store) -> None:
    seeds = {seed for _ in range(5) for _, seed in pick_questions(store, BANK, n=3, now=T0)}
    assert len(seeds) >= 10


def test_unseen_first_then_least_recently_practised(store: Store) -> None:
    for offset, qid in enumerate(["c-choice", "f-choice"]):
        instance = instantiate(BANK.get(qid), 0)
        submit_answer(
            store,
            instance,
            right_answer(instance),
            duration_s=40,
            mode="practice",
            now=T0 + timedelta(minutes=offset),
        )
    order = ids(
        pick_questions(store, BANK, n=10, now=T0 + timedelta(days=30), rng=random.Random(1))
    )
    assert order[-2:] == ["c-choice", "f-choice"]


def test_due_first_puts_the_review_queue_ahead(store: Store) -> None:
    instance = instantiate(BANK.get("a-choice"), 0)
    submit_answer(store, instance, wrong_answer(instance), duration_s=40, mode="practice", now=T0)
    later = T0 + timedelta(hours=1)
    assert ids(pick_questions(store, BANK, n=3, due_first=True, now=later))[0] == "a-choice"
    assert ids(pick_questions(store, BANK, n=10, due_first=False, now=later))[-1] == "a-choice"


def test_own_practical_runs_rate_the_practicals_card_and_reference_runs_do_not(
    store: Store,
) -> None:
    result = {"passed": True, "score": 1.0, "duration_s": 300.0, "device": {"device": "cpu"}}
    submit_practical_run(store, "serve-and-profile", result, "reference", now=T0)
    assert store.attempts() == [] and store.cards() == []
    run_id = submit_practical_run(store, "serve-and-profile", result, "workspace", now=T0)
    [attempt] = store.attempts()
    assert (attempt.question_id, attempt.mode, attempt.score) == (
        "serve-and-profile",
        "practical",
        1.0,
    )
    assert attempt.rating == 4  # passed within half of its 900 s budget: Easy
    assert [c.question_id for c in store.cards()] == ["serve-and-profile"]
    assert [r.id for r in store.practical_runs("serve-and-profile")][-1] == run_id


def test_a_run_of_a_practical_without_a_question_is_just_stored(store: Store) -> None:
    submit_practical_run(store, "int8-ptq", {"passed": False, "score": 0.5}, "workspace", now=T0)
    assert store.attempts() == []
    assert store.practical_runs("int8-ptq")[0].score == 0.5
