"""Spaced repetition with FSRS: one card per question, rated from the auto-grade.

Rating rules (``rating_for``), in order:
- a free-text (``short``) answer the user self-rated: their rating;
- not correct: Hard when the score shows partial credit (≥ PARTIAL_SCORE), else Again;
- correct but well over the time budget (> SLOW_FACTOR × budget): Hard;
- correct and fast (≤ FAST_FACTOR × budget): Easy;
- correct: Good.
A practical's result rates its practical's card by the same rules (passed = correct).

In interview-date mode (see ``quiz.study.plan``) no card is ever due after the interview begins,
and in its last days the due queue puts the weakest topics first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from fsrs import Rating
from sqlalchemy.orm import Session

from quiz.errors import UsageError
from quiz.store import Store, ops
from quiz.study import mastery
from quiz.study.cards import SCHEDULER, card_from_dict, new_card, retrievability
from quiz.study.plan import get_plan, in_final_days, plan_in, review_deadline

PARTIAL_SCORE = 0.5
SLOW_FACTOR = 1.5
FAST_FACTOR = 0.5
SELF_RATINGS = {rating.name.lower(): rating for rating in Rating}


def utc(now: datetime | None) -> datetime:
    """``now`` (default: the current time) as an aware UTC datetime, as FSRS requires."""
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("naive datetime; pass an aware one")
    return now.astimezone(timezone.utc)


def parse_self_rating(value: str | int | None) -> Rating | None:
    """'again' / 'hard' / 'good' / 'easy' (any case) or 1..4; None for no self-rating."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        if value in tuple(Rating):
            return Rating(value)
    elif value.strip().lower() in SELF_RATINGS:
        return SELF_RATINGS[value.strip().lower()]
    raise UsageError(f"unknown self-rating {value!r} (again, hard, good or easy)")


def rating_for(
    *,
    score: float,
    correct: bool,
    kind: str,
    duration_s: float | None,
    budget_s: float | None,
    self_rating: str | int | None = None,
) -> Rating:
    """The FSRS rating an answer earns (rules in the module docstring)."""
    chosen = parse_self_rating(self_rating)
    if chosen is not None and kind == "short":
        return chosen
    if not correct:
        return Rating.Hard if score >= PARTIAL_SCORE else Rating.Again
    if duration_s is not None and budget_s:
        if duration_s > SLOW_FACTOR * budget_s:
            return Rating.Hard
        if duration_s <= FAST_FACTOR * budget_s:
            return Rating.Easy
    return Rating.Good


def apply_review(
    db: Session,
    question_id: str,
    rating: Rating,
    *,
    now: datetime,
    duration_s: float | None = None,
) -> datetime:
    """Review the question's card inside the caller's transaction; returns the new due time.
    Writes the card and a review log; caps the due time in interview-date mode."""
    now = utc(now)
    row = ops.get_card(db, question_id)
    card = card_from_dict(row.card) if row is not None else new_card(question_id, now)
    duration_ms = round(duration_s * 1000) if duration_s is not None else None
    card, log = SCHEDULER.review_card(
        card, rating, review_datetime=now, review_duration=duration_ms
    )
    deadline = review_deadline(plan_in(db), now)
    if deadline is not None and card.due > deadline:
        card.due = deadline
    ops.put_card(db, question_id, dict(card.to_dict()), card.due, now)
    ops.add_review_log(db, question_id, int(rating), dict(log.to_dict()), now)
    return card.due


@dataclass(frozen=True)
class DueCard:
    question_id: str
    title: str
    phase: str
    level: str
    topic: str
    kind: str
    due: datetime
    recall: float  # FSRS retrievability now


@dataclass(frozen=True)
class DueCounts:
    now: int  # due at this moment
    today: int  # due before the end of today (UTC)
    week: int  # due within the next 7 days


def due_cards(store: Store, now: datetime | None = None) -> list[DueCard]:
    """Cards due at ``now`` (not suspended in the browser): most overdue first; in an
    interview plan's last days, weakest topic first (then most overdue)."""
    now = utc(now)
    suspended = store.suspended_questions()
    rows = [row for row in store.cards(due_before=now) if row.question_id not in suspended]
    if not rows:
        return []
    questions = {q.id: q for q in store.questions()}
    due = [
        DueCard(
            question_id=row.question_id,
            title=questions[row.question_id].title,
            phase=questions[row.question_id].phase,
            level=questions[row.question_id].level,
            topic=questions[row.question_id].topic,
            kind=questions[row.question_id].kind,
            due=row.due,
            recall=retrievability(row.card, now),
        )
        for row in rows
        if row.question_id in questions
    ]
    if in_final_days(get_plan(store), now):
        weakness = mastery.topic_mastery(mastery.load_history(store, now), questions.values())
        due.sort(key=lambda card: (weakness.get(card.topic, 0.0), card.due))
    return due


def due_counts(store: Store, now: datetime | None = None) -> DueCounts:
    now = utc(now)
    end_of_today = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=timezone.utc)
    suspended = store.suspended_questions()
    dues = [
        row.due
        for row in store.cards(due_before=now + timedelta(days=7))
        if row.question_id not in suspended
    ]
    return DueCounts(
        now=sum(1 for d in dues if d <= now),
        today=sum(1 for d in dues if d < end_of_today),
        week=len(dues),
    )
