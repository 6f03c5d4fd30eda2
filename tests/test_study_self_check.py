"""Self-checked short answers in the study layer: recording a verdict decided outside
submit_answer, and the mock interview's self-check on the report, before its verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quiz.bank import Bank, load_bank
from quiz.store import Store
from quiz.study.mock import finish_mock, mock_report, record_mock_answer, start_mock
from quiz.study.self_check import apply_mock_self_check, mock_self_checks
from tests.test_study_support import fresh_store

FULL = load_bank()
# Only short L1 questions, so every item of an L1 mock is a short answer.
BANK = Bank([FULL.get(q) for q in ("what-is-ptq", "latency-vs-throughput", "what-is-a-gpu-kernel")])
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
UNRECOGNISED = (
    "Picture a restaurant kitchen and its diners: one number tells how quickly your own plate "
    "comes out after you order, the other tells how many plates leave the pass in an evening, "
    "and crowding more orders onto the stove helps the second while your plate waits longer."
)


@pytest.fixture
def store(db_url: str) -> Store:
    return fresh_store(db_url, BANK)


def test_the_report_waits_for_the_self_check_and_then_counts_it(store: Store) -> None:
    mock = start_mock(store, BANK, level="L1", minutes=10, seed=1, clock=lambda: T0)
    assert all(item.kind == "short" for item in mock.items) and mock.items
    for _ in mock.items:
        record_mock_answer(store, BANK, mock, UNRECOGNISED)
    finish_mock(store, mock, bank=BANK)
    before = mock_report(store, mock.session_id, BANK)
    assert before.score < 0.5 and before.verdict == "no hire"

    pending = mock_self_checks(store, BANK, mock.session_id)
    assert pending and {p.index for p in pending} <= set(range(len(mock.items)))
    first = pending[0]
    assert first.verdict.needs_self_check and first.answer == UNRECOGNISED
    every_point = set(range(len(first.verdict.points)))
    verdict = apply_mock_self_check(store, BANK, mock.session_id, first.index, every_point)
    assert verdict.score == 1.0 and verdict.correct

    after = mock_report(store, mock.session_id, BANK)
    checked = after.items[first.index]
    assert checked["score"] == 1.0 and checked["correct"] is True
    assert checked["feedback"].startswith("Self-checked:")
    gained = 1.0 - before.items[first.index]["score"]
    assert after.score == pytest.approx(before.score + gained / len(mock.items), abs=1e-3)
    attempts = [a for a in store.attempts() if a.session_id == mock.session_id]
    assert (attempts[first.index].score, attempts[first.index].correct) == (1.0, True)
    assert [p.index for p in mock_self_checks(store, BANK, mock.session_id)] == [
        p.index for p in pending[1:]
    ]


def test_confident_and_empty_answers_need_no_self_check(store: Store) -> None:
    mock = start_mock(store, BANK, level="L1", minutes=10, seed=2, clock=lambda: T0)
    record_mock_answer(store, BANK, mock, "")  # a pass
    if len(mock.items) > 1:
        record_mock_answer(store, BANK, mock, "memory bound, INT8, calibration")  # a term list
    assert mock_self_checks(store, BANK, mock.session_id) == []
