"""The browser's rows and filters, and suspended questions leaving the review queue (in the
store's user scope: another user's marks are not seen)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from quiz.bank import instantiate
from quiz.errors import NotFoundError
from quiz.store import Store
from quiz.study.browse import browse_rows, filter_rows
from quiz.study.practice import skip_question, submit_answer
from quiz.study.reviews import due_cards, due_counts
from tests.test_study_support import T0, fresh_store, tiny_bank, wrong_answer

BANK = tiny_bank()


@pytest.fixture
def store(db_url: str) -> Store:
    return fresh_store(db_url, BANK)


def test_search_and_filters_combine(store: Store) -> None:
    rows = browse_rows(store, BANK, now=T0)
    assert len(rows) == len(BANK.questions)
    assert [r.question_id for r in filter_rows(rows, search="QUESTION c-")] == [
        "c-choice",
        "c-numeric",
    ]
    assert [r.question_id for r in filter_rows(rows, phase="core", kind="numeric")] == ["c-numeric"]
    assert filter_rows(rows, search="no such words") == []
    assert [r.question_id for r in filter_rows(rows, level="L3")] == ["a-choice"]


def test_flags_and_suspension_take_a_card_out_of_the_review_queue(store: Store) -> None:
    instance = instantiate(BANK.get("f-choice"), 1)
    submit_answer(store, instance, wrong_answer(instance), duration_s=5, mode="practice", now=T0)
    later = T0 + timedelta(days=1)
    assert [c.question_id for c in due_cards(store, later)] == ["f-choice"]
    store.set_question_flag("f-choice", flagged=True)
    rows = browse_rows(store, BANK, now=later)
    [row] = filter_rows(rows, show="flagged")
    assert (row.question_id, row.due, row.last_score) == ("f-choice", True, 0.0)
    assert [r.question_id for r in filter_rows(rows, show="due")] == ["f-choice"]

    store.set_question_flag("f-choice", suspended=True)
    assert due_cards(store, later) == [] and due_counts(store, later).now == 0
    rows = browse_rows(store, BANK, now=later)
    assert filter_rows(rows, show="due") == []
    assert [r.question_id for r in filter_rows(rows, show="suspended")] == ["f-choice"]
    assert store.question_flags()["f-choice"] == (True, True)
    assert store.as_user("someone-else").question_flags() == {}

    store.set_question_flag("f-choice", suspended=False)
    assert due_counts(store, later).now == 1
    with pytest.raises(NotFoundError):
        store.set_question_flag("no-such-question", flagged=True)


def test_i_dont_know_is_a_blank_attempt_rated_again(store: Store) -> None:
    instance = instantiate(BANK.get("c-numeric"), 3)
    verdict = skip_question(store, instance, duration_s=4, now=T0)
    assert (verdict.score, verdict.correct) == (0.0, False) and "KiB" in verdict.expected
    [attempt] = store.attempts()
    assert (attempt.answer, attempt.rating, attempt.mode) == ("", 1, "practice")
