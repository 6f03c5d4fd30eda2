"""Practice: choose questions, grade answers, record them and update their review cards.

Grading, the attempt and the FSRS review are one transaction: when ``submit_answer`` returns,
the answer is on disk; if it raises, nothing was written.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from quiz.store import AttemptRow, QuestionRow, Store, ops
from quiz.study import mastery
from quiz.study.plan import get_plan, in_final_days
from quiz.study.reviews import apply_review, due_cards, rating_for, utc

if TYPE_CHECKING:
    from quiz.bank import Bank, Instance, Question
    from quiz.grading import Verdict

MAX_SEED = 2**31 - 1


def submit_answer(
    store: Store,
    instance: Instance,
    answer: str,
    *,
    duration_s: float | None,
    mode: str,
    session_id: int | None = None,
    self_rating: str | int | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Grade ``answer``, store the attempt and review the question's card; returns the verdict.
    An unreadable answer raises AnswerFormatError before anything is stored."""
    from quiz.grading import grade

    return submit_verdict(
        store,
        instance,
        answer,
        grade(instance, answer),
        duration_s=duration_s,
        mode=mode,
        session_id=session_id,
        self_rating=self_rating,
        now=now,
    )


def submit_verdict(
    store: Store,
    instance: Instance,
    answer: str,
    verdict: Verdict,
    *,
    duration_s: float | None,
    mode: str,
    session_id: int | None = None,
    self_rating: str | int | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Store ``verdict`` for ``answer`` (attempt + card review in one transaction, run again if
    the database asks: a deadlock, a locked file); returns it. The verdict may come from the
    grader, a self-check or a judge."""
    store.write(
        lambda db: record_graded(
            db,
            instance,
            answer,
            verdict,
            duration_s=duration_s,
            mode=mode,
            session_id=session_id,
            self_rating=self_rating,
            now=utc(now),
        )
    )
    return verdict


def skip_question(
    store: Store,
    instance: Instance,
    *,
    duration_s: float | None,
    now: datetime | None = None,
) -> Verdict:
    """ "I don't know": a practice attempt scored 0 with a blank answer, its card rated Again;
    the verdict carries the expected answer to show."""
    from quiz.grading import Verdict
    from quiz.study.mock import expected_text

    verdict = Verdict(0.0, False, "Skipped: you said you don't know.", expected_text(instance))
    store.write(
        lambda db: record_graded(
            db,
            instance,
            "",
            verdict,
            duration_s=duration_s,
            mode="practice",
            session_id=None,
            self_rating=None,
            now=utc(now),
        )
    )
    return verdict


def record_graded(
    db: Session,
    instance: Instance,
    answer: str,
    verdict: Verdict,
    *,
    duration_s: float | None,
    mode: str,
    session_id: int | None,
    self_rating: str | int | None,
    now: datetime,
) -> AttemptRow:
    """The attempt and the card review for an already graded answer, in the caller's
    transaction."""
    rating = rating_for(
        score=verdict.score,
        correct=verdict.correct,
        kind=instance.kind,
        duration_s=duration_s,
        budget_s=instance.time_budget_s,
        self_rating=self_rating,
    )
    attempt = ops.add_attempt(
        db,
        question_id=instance.question_id,
        seed=instance.seed,
        answer=answer,
        score=verdict.score,
        correct=verdict.correct,
        duration_s=duration_s,
        mode=mode,
        session_id=session_id,
        rating=int(rating),
        created_at=now,
    )
    apply_review(db, instance.question_id, rating, now=now, duration_s=duration_s)
    return attempt


def submit_practical_run(
    store: Store,
    practical_id: str,
    result: dict[str, Any],
    source: str,
    *,
    now: datetime | None = None,
) -> int:
    """Store a lab result (``LabResult.to_dict()``) and return the run's id. A run of the
    user's own code also becomes an attempt at the practical's question (same id) and rates
    its card; runs of the reference or starter only go into the run history."""
    now = utc(now)
    with store.session() as db:
        run = ops.add_practical_run(db, practical_id, result, source, created_at=now)
        question = db.get(QuestionRow, practical_id)
        if source in mastery.OWN_WORK_SOURCES and question is not None and not question.retired:
            rating = rating_for(
                score=run.score,
                correct=run.passed,
                kind="practical",
                duration_s=run.duration_s,
                budget_s=question.body.get("time_budget_s"),
            )
            ops.add_attempt(
                db,
                question_id=practical_id,
                seed=0,
                answer=f"practical run #{run.id} ({source})",
                score=run.score,
                correct=run.passed,
                duration_s=run.duration_s,
                mode="practical",
                rating=int(rating),
                created_at=now,
            )
            apply_review(db, practical_id, rating, now=now, duration_s=run.duration_s)
        return run.id


def pick_questions(
    store: Store,
    bank: Bank,
    *,
    n: int,
    phase: str | None = None,
    level: str | None = None,
    topic: str | None = None,
    kind: str | None = None,
    due_first: bool = False,
    exclude_kinds: Sequence[str] = ("practical",),
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> list[tuple[Question, int]]:
    """Up to ``n`` (question, seed) pairs matching the filters, each with a fresh random seed
    (a parameterized question is a new problem every time).

    Order: with ``due_first``, due reviews (in the review queue's order); then questions never
    attempted; then the least recently attempted. In an interview plan's last days, weaker
    topics come first within each of those groups. Ties are broken at random.
    """
    now = utc(now)
    rng = rng or random.Random()
    candidates = {
        q.id: q
        for q in bank.filter(phase=phase, level=level, topic=topic, kind=kind)
        if q.kind not in exclude_kinds
    }
    chosen: list[Question] = []
    if due_first:
        chosen = [
            candidates[c.question_id] for c in due_cards(store, now) if c.question_id in candidates
        ]
    last_seen: dict[str, datetime] = {}
    for attempt in store.attempts():
        last_seen[attempt.question_id] = attempt.created_at
    weakness: dict[str, float] = {}
    if in_final_days(get_plan(store), now):
        weakness = mastery.topic_mastery(mastery.load_history(store, now), candidates.values())
    taken = {q.id for q in chosen}
    rest = [q for q in candidates.values() if q.id not in taken]
    rng.shuffle(rest)
    rest.sort(
        key=lambda q: (
            q.id in last_seen,
            weakness.get(q.topic, 0.0),
            last_seen.get(q.id, now),
        )
    )
    return [(q, rng.randint(0, MAX_SEED)) for q in (chosen + rest)[: max(n, 0)]]
