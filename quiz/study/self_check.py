"""Recording a short answer the user self-checked (or a judge graded): the verdict is decided
outside ``submit_answer``'s own grading, then stored the same way, attempt and card review in
one transaction."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING

from quiz.study.practice import record_graded
from quiz.study.reviews import utc

if TYPE_CHECKING:
    from quiz.bank import Instance
    from quiz.grading import Verdict
    from quiz.store import Store


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
    """Store ``verdict`` for ``answer`` (attempt + card review); returns it."""
    with store.session() as db:
        record_graded(
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
    return verdict


def submit_self_checked(
    store: Store,
    instance: Instance,
    answer: str,
    covered: Collection[int],
    *,
    duration_s: float | None,
    mode: str,
    session_id: int | None = None,
    self_rating: str | int | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Store the score of the key points (by index) the user confirmed their answer makes."""
    from quiz.grading.short import self_checked

    return submit_verdict(
        store,
        instance,
        answer,
        self_checked(instance, covered),
        duration_s=duration_s,
        mode=mode,
        session_id=session_id,
        self_rating=self_rating,
        now=now,
    )
