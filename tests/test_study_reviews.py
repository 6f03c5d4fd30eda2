"""FSRS reviews: card state in the database, ratings, the due queue, interview-date mode."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import NoReturn

import pytest
from fsrs import Card, Rating

from quiz.bank import instantiate
from quiz.errors import AnswerFormatError, UsageError
from quiz.grading import Verdict
from quiz.store import Store
from quiz.study import practice
from quiz.study.cards import SCHEDULER, new_card
from quiz.study.plan import get_plan, set_plan
from quiz.study.practice import submit_answer
from quiz.study.reviews import due_cards, due_counts, parse_self_rating, rating_for
from tests.test_study_support import T0, fresh_store, right_answer, tiny_bank, wrong_answer

BANK = tiny_bank()
RIGHT, WRONG = "<right>", "<wrong>"


@pytest.fixture
def store(db_url: str) -> Store:
    return fresh_store(db_url, BANK)


def answer(
    store: Store,
    qid: str,
    text: str,
    *,
    at: datetime,
    duration_s: float = 40.0,
    self_rating: str | None = None,
) -> Verdict:
    """Answer ``qid`` at time ``at`` with RIGHT, WRONG or a text; 40 s of a 60 s budget rates
    a correct answer Good."""
    instance = instantiate(BANK.get(qid), 1)
    text = {RIGHT: right_answer(instance), WRONG: wrong_answer(instance)}.get(text, text)
    return submit_answer(
        store,
        instance,
        text,
        duration_s=duration_s,
        mode="practice",
        self_rating=self_rating,
        now=at,
    )


def test_fsrs_card_state_round_trips_through_the_database(store: Store) -> None:
    answer(store, "f-choice", RIGHT, at=T0)
    answer(store, "f-choice", RIGHT, at=T0 + timedelta(days=1))
    [row] = store.cards()
    stored = Card.from_dict(row.card)  # type: ignore[arg-type]
    assert stored.to_dict() == row.card
    assert row.due == stored.due

    expected = new_card("f-choice", T0)
    for when in (T0, T0 + timedelta(days=1)):
        expected, _ = SCHEDULER.review_card(expected, Rating.Good, review_datetime=when)
    assert stored.stability == pytest.approx(expected.stability)
    assert stored.difficulty == pytest.approx(expected.difficulty)
    assert (stored.state, stored.due) == (expected.state, expected.due)
    logs = store.review_logs()
    assert [log.rating for log in logs] == [Rating.Good, Rating.Good]
    assert [a.rating for a in store.attempts()] == [Rating.Good, Rating.Good]


@pytest.mark.parametrize(
    ("score", "correct", "kind", "duration", "budget", "self_rating", "expected"),
    [
        (0.0, False, "choice", 10, 60, None, Rating.Again),
        (0.3, False, "multi", 10, 60, None, Rating.Again),
        (0.6, False, "multi", 10, 60, None, Rating.Hard),  # partial credit
        (1.0, True, "numeric", 100, 60, None, Rating.Hard),  # well over budget (> 1.5x)
        (1.0, True, "numeric", 90, 60, None, Rating.Good),  # over, but not well over
        (1.0, True, "choice", 45, 60, None, Rating.Good),
        (1.0, True, "choice", 30, 60, None, Rating.Easy),  # fast: within half the budget
        (1.0, True, "choice", None, 60, None, Rating.Good),  # no timing: plain correct
        (0.2, False, "short", 10, 60, "good", Rating.Good),  # self-rating overrides for short
        (1.0, True, "short", 10, 60, "again", Rating.Again),
        (0.0, False, "choice", 10, 60, "easy", Rating.Again),  # ... but only for short answers
        (1.0, True, "practical", 2000, 900, None, Rating.Hard),
    ],
)
def test_ratings_map_from_the_auto_grade(
    score: float,
    correct: bool,
    kind: str,
    duration: float | None,
    budget: int,
    self_rating: str | None,
    expected: Rating,
) -> None:
    got = rating_for(
        score=score,
        correct=correct,
        kind=kind,
        duration_s=duration,
        budget_s=budget,
        self_rating=self_rating,
    )
    assert got == expected


def test_self_ratings_parse_names_and_numbers() -> None:
    assert parse_self_rating("Hard") == Rating.Hard
    assert parse_self_rating(4) == Rating.Easy
    assert parse_self_rating(None) is None
    with pytest.raises(UsageError, match="again, hard, good or easy"):
        parse_self_rating("meh")


def test_a_self_rated_short_answer_is_stored_with_that_rating(store: Store) -> None:
    answer(store, "f-short", "no idea", at=T0, self_rating="easy")
    [attempt] = store.attempts()
    assert attempt.rating == Rating.Easy and attempt.score == 0.0


def test_an_unreadable_answer_writes_nothing(store: Store) -> None:
    with pytest.raises(AnswerFormatError):
        answer(store, "f-numeric", "lots", at=T0)
    assert store.attempts() == [] and store.cards() == [] and store.review_logs() == []


def test_attempt_and_review_are_one_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_review(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(practice, "apply_review", broken_review)
    with pytest.raises(RuntimeError):
        answer(store, "f-choice", RIGHT, at=T0)
    assert store.attempts() == []


def test_due_queue_is_most_overdue_first_and_skips_retired_questions(store: Store) -> None:
    answer(store, "c-choice", WRONG, at=T0)  # Again: due in minutes
    answer(store, "f-choice", WRONG, at=T0 - timedelta(hours=1))  # due an hour earlier
    answer(store, "a-choice", RIGHT, at=T0, duration_s=5)  # Easy: due in 8 days
    now = T0 + timedelta(hours=1)
    assert [c.question_id for c in due_cards(store, now)] == ["f-choice", "c-choice"]
    counts = due_counts(store, now)
    assert (counts.now, counts.today, counts.week) == (2, 2, 2)
    counts = due_counts(store, T0 + timedelta(days=2))
    assert (counts.now, counts.today, counts.week) == (2, 2, 3)
    assert len(due_cards(store, T0 + timedelta(days=8))) == 3
    store.sync_bank(type(BANK)([q for q in BANK if q.id != "f-choice"]))
    assert [c.question_id for c in due_cards(store, now)] == ["c-choice"]


def _max_due_over_a_study_season(
    store: Store, interview: date, seed: int
) -> list[tuple[datetime, datetime]]:
    """Answer three questions every day until the interview; (answered at, due) per answer."""
    rng = random.Random(seed)
    qids = ["f-choice", "c-choice", "a-choice"]
    dues = []
    for day in range((interview - T0.date()).days):
        now = T0 + timedelta(days=day, hours=rng.randint(0, 11))
        for qid in qids:
            text = RIGHT if rng.random() < 0.85 else WRONG
            answer(store, qid, text, at=now, duration_s=rng.choice([5, 30, 100]))
            [card] = [c for c in store.cards() if c.question_id == qid]
            dues.append((now, card.due))
    return dues


def test_interview_date_mode_never_schedules_after_the_interview(store: Store) -> None:
    interview = (T0 + timedelta(days=20)).date()
    set_plan(store, T0.date(), interview, now=T0)
    plan = get_plan(store)
    assert plan is not None
    for now, due in _max_due_over_a_study_season(store, interview, seed=3):
        assert due <= plan.interview_start, (now, due)
        if now < plan.interview_start - timedelta(days=1):
            assert due <= plan.interview_start - timedelta(days=1)


def test_setting_a_plan_pulls_reviews_already_scheduled_after_it(store: Store) -> None:
    answer(store, "a-choice", RIGHT, at=T0, duration_s=5)  # Easy: due in 8 days
    answer(store, "f-choice", WRONG, at=T0)  # due in minutes: untouched
    plan = set_plan(store, T0.date(), (T0 + timedelta(days=4)).date(), now=T0)
    dues = {c.question_id: c.due for c in store.cards()}
    assert dues["a-choice"] == plan.interview_start - timedelta(days=1)
    assert dues["f-choice"] < T0 + timedelta(hours=1)
    [card] = [c for c in store.cards() if c.question_id == "a-choice"]
    assert Card.from_dict(card.card).due == dues["a-choice"]  # type: ignore[arg-type]


def test_without_a_plan_the_same_history_schedules_past_that_date(db_url: str) -> None:
    store = fresh_store(db_url, BANK)
    interview = (T0 + timedelta(days=20)).date()
    dues = _max_due_over_a_study_season(store, interview, seed=3)
    limit = T0.replace(hour=0) + timedelta(days=20)
    assert any(due > limit for _, due in dues)


def test_the_last_days_put_the_weakest_topics_first(store: Store) -> None:
    set_plan(store, T0.date() - timedelta(days=30), (T0 + timedelta(days=3)).date(), now=T0)
    answer(store, "c-choice", WRONG, at=T0 - timedelta(hours=2))  # quantization: weak, due later
    answer(store, "f-choice", WRONG, at=T0 - timedelta(hours=3))  # latency-throughput
    answer(store, "f-short", "latency is the time one request takes", at=T0 - timedelta(hours=3))
    answer(store, "f-choice", RIGHT, at=T0 - timedelta(hours=2, minutes=30))
    queue = [c.question_id for c in due_cards(store, T0)]
    assert queue[0] == "c-choice"  # most overdue would be f-choice without the plan
    store.set_setting("plan", None)
    assert [c.question_id for c in due_cards(store, T0)][0] != "c-choice"
