"""How well something is mastered, from the stored history. The formula:

For one question q (any kind but ``practical``), at time t:

    A_q = mean score of q's last RECENT_ATTEMPTS attempts   (0 when never attempted)
    R_q = FSRS retrievability of q's card at t            (0 when never reviewed)
    m_q = A_q · R_q

so a question counts as mastered when it was answered well recently *and* is still likely to
be recalled: a wrong answer gives 0 however fresh, and a right one fades as the card is due.

A topic's (or skill's) mastery is the mean m_q over its questions in the bank, unseen ones
counting 0. A phase's mastery adds its practicals (the practical-kind questions of the phase
and its milestone):

    P = practicals passed / practicals in the phase
    mastery = (1 − PRACTICAL_WEIGHT) · mean m_q + PRACTICAL_WEIGHT · P     (mean m_q alone when
                                                                           the phase has none)

A practical counts as passed when a run of the user's own code (source ``workspace`` or
``path``) passed; runs of the reference solution or the starter never count. A phase is
complete when its milestone passed and its mastery ≥ ``plan.COMPLETE_MASTERY`` (0.7).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from quiz.store import Store
from quiz.study.cards import retrievability

RECENT_ATTEMPTS = 3
PRACTICAL_WEIGHT = 0.2
OWN_WORK_SOURCES = ("workspace", "path")


class QuestionLike(Protocol):
    """What mastery needs of a question: ``quiz.bank.Question`` and ``QuestionRow`` both fit."""

    @property
    def id(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def kind(self) -> str: ...


Q = TypeVar("Q", bound=QuestionLike)


@dataclass
class History:
    """Everything the formula reads, loaded in one go."""

    now: datetime
    scores: dict[str, list[float]] = field(default_factory=dict)  # question id -> oldest first
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)  # question id -> card dict
    passed_practicals: set[str] = field(default_factory=set)


def load_history(store: Store, now: datetime) -> History:
    scores: dict[str, list[float]] = defaultdict(list)
    for attempt in store.attempts():
        if attempt.created_at <= now:
            scores[attempt.question_id].append(attempt.score)
    return History(
        now=now,
        scores=dict(scores),
        cards={row.question_id: row.card for row in store.cards()},
        passed_practicals={
            run.practical_id
            for run in store.practical_runs()
            if run.passed and run.source in OWN_WORK_SOURCES and run.created_at <= now
        },
    )


def recent_accuracy(history: History, question_id: str) -> float:
    recent = history.scores.get(question_id, [])[-RECENT_ATTEMPTS:]
    return sum(recent) / len(recent) if recent else 0.0


def question_mastery(history: History, question_id: str) -> float:
    recall = retrievability(history.cards.get(question_id), history.now)
    return recent_accuracy(history, question_id) * recall


def questions_mastery(history: History, questions: Iterable[QuestionLike]) -> float:
    """Mean mastery of the (non-practical) questions; 0.0 when there are none."""
    values = [question_mastery(history, q.id) for q in questions if q.kind != "practical"]
    return sum(values) / len(values) if values else 0.0


def phase_mastery(
    history: History, questions: Iterable[QuestionLike], practical_ids: set[str]
) -> float:
    asked = questions_mastery(history, questions)
    if not practical_ids:
        return asked
    passed = len(practical_ids & history.passed_practicals) / len(practical_ids)
    return (1 - PRACTICAL_WEIGHT) * asked + PRACTICAL_WEIGHT * passed


def mastery_by(
    history: History, questions: Iterable[Q], groups: Callable[[Q], Iterable[str]]
) -> dict[str, float]:
    """Mastery per group: ``groups(q)`` names the groups q belongs to (its topic, its skills)."""
    members: dict[str, list[Q]] = defaultdict(list)
    for question in questions:
        if question.kind != "practical":
            for group in groups(question):
                members[group].append(question)
    return {group: questions_mastery(history, qs) for group, qs in members.items()}


def topic_mastery(history: History, questions: Iterable[QuestionLike]) -> dict[str, float]:
    return mastery_by(history, questions, lambda q: (q.topic,))
