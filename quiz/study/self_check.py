"""Short answers the user self-checked (or a judge graded): the verdict is decided outside
``submit_answer``'s own grading, then stored the same way, attempt and card review in one
transaction. In a mock interview the self-check happens on the report: ``mock_self_checks``
lists the answers the grader was unsure of, ``apply_mock_self_check`` scores one by the ticked
key points before the report's verdict is read."""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from quiz.errors import UsageError
from quiz.store import AttemptRow, ops
from quiz.study.practice import submit_verdict

if TYPE_CHECKING:
    from quiz.bank import Bank, Instance
    from quiz.grading import Verdict
    from quiz.store import Store


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


@dataclass(frozen=True)
class PendingCheck:
    """A short answer in a mock interview that the grader was unsure of."""

    index: int  # the item's position in the interview
    instance: Instance
    answer: str
    verdict: Verdict  # the grader's, with its detected points


def mock_self_checks(store: Store, bank: Bank, session_id: int) -> list[PendingCheck]:
    """The short answers of a mock interview that wait for the user's self-check (the grader
    was unsure and the user has not checked them yet), in interview order."""
    from quiz.bank import instantiate
    from quiz.grading import grade

    state = store.get_session(session_id).state
    pending: list[PendingCheck] = []
    for index, (item, entry) in enumerate(zip(state["items"], state["answers"], strict=False)):
        if item["kind"] != "short" or entry.get("self_checked") or not entry["answer"].strip():
            continue
        if item["question_id"] not in bank:
            continue
        instance = instantiate(bank.get(item["question_id"]), item["seed"])
        verdict = grade(instance, entry["answer"])
        if verdict.needs_self_check:
            pending.append(PendingCheck(index, instance, entry["answer"], verdict))
    return pending


def apply_mock_self_check(
    store: Store, bank: Bank, session_id: int, index: int, covered: Collection[int]
) -> Verdict:
    """Score item ``index`` of a mock interview by the key points the user ticked: its attempt
    and the interview's saved answer change together, so the report's score and verdict band
    count the self-checked score. (The item's review card keeps the rating it got when the
    answer was given.)"""
    from quiz.bank import instantiate
    from quiz.grading.short import self_checked

    with store.session() as db:
        row = ops.session_row(db, session_id)
        state = copy.deepcopy(row.state)
        item, entry = state["items"][index], state["answers"][index]
        if item["kind"] != "short":
            raise UsageError(f"item {index + 1} of session {session_id} is not a short answer")
        verdict = self_checked(instantiate(bank.get(item["question_id"]), item["seed"]), covered)
        entry.update(
            score=verdict.score,
            correct=verdict.correct,
            feedback=verdict.feedback,
            self_checked=True,
        )
        attempt = db.scalar(select(AttemptRow).where(AttemptRow.uid == entry["attempt_uid"]))
        if attempt is not None:
            attempt.score, attempt.correct = verdict.score, verdict.correct
        ops.save_session_progress(db, session_id, state=state)
    return verdict
