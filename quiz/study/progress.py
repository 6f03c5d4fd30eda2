"""``progress(store, bank)``: the dict behind ``latency-quiz progress --json`` and the dashboard.

Mastery follows ``quiz.study.mastery`` (formula in its docstring). ``streak_days`` counts
consecutive UTC days with at least one attempt, ending today, or yesterday when nothing has
been answered yet today.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from quiz.store import Store
from quiz.study import mastery
from quiz.study.mock import mock_report
from quiz.study.plan import COMPLETE_MASTERY, Roadmap, get_plan, load_roadmap, plan_status
from quiz.study.reviews import due_counts, utc

if TYPE_CHECKING:
    from quiz.bank import Bank

DIGITS = 3


def progress(
    store: Store, bank: Bank, now: datetime | None = None, *, roadmap: Roadmap | None = None
) -> dict[str, Any]:
    """``{phases, topics, due_reviews, streak_days, plan, mocks}`` (see issue 5)."""
    now = utc(now)
    roadmap = roadmap or load_roadmap()
    history = mastery.load_history(store, now)
    questions = list(bank.questions.values())
    phases = [_phase(history, questions, phase) for phase in roadmap.phases]
    plan = plan_status(
        get_plan(store), roadmap, {p["id"]: p["mastery"] for p in phases}, now.date()
    )
    return {
        "phases": phases,
        "topics": topics(history, questions),
        "due_reviews": due_counts(store, now).now,
        "streak_days": streak_days(store, now),
        "plan": plan,
        "mocks": mocks(store),
    }


def _phase(history: mastery.History, questions: list[Any], phase: Any) -> dict[str, Any]:
    members = [q for q in questions if q.phase == phase.id]
    asked = [q for q in members if q.kind != "practical"]
    practicals = {q.id for q in members if q.kind == "practical"} | {phase.milestone}
    value = mastery.phase_mastery(history, members, practicals)
    milestone_passed = phase.milestone in history.passed_practicals
    return {
        "id": phase.id,
        "name": phase.name,
        "title": phase.title,
        "weeks": phase.weeks,
        "mastery": round(value, DIGITS),
        "questions_seen": sum(1 for q in asked if q.id in history.scores),
        "questions_total": len(asked),
        "practicals_passed": len(practicals & history.passed_practicals),
        "practicals_total": len(practicals),
        "milestone": phase.milestone,
        "milestone_passed": milestone_passed,
        "complete": milestone_passed and value >= COMPLETE_MASTERY,
    }


def topics(history: mastery.History, questions: list[Any]) -> list[dict[str, Any]]:
    """Per topic: mastery, coverage and recent accuracy (mean over the questions seen)."""
    values = mastery.topic_mastery(history, questions)
    out = []
    for topic in sorted(values):
        asked = [q for q in questions if q.topic == topic and q.kind != "practical"]
        seen = [q for q in asked if q.id in history.scores]
        accuracy = [mastery.recent_accuracy(history, q.id) for q in seen]
        out.append(
            {
                "id": topic,
                "mastery": round(values[topic], DIGITS),
                "questions_seen": len(seen),
                "questions_total": len(asked),
                "accuracy": round(sum(accuracy) / len(accuracy), DIGITS) if accuracy else None,
            }
        )
    return out


def streak_days(store: Store, now: datetime) -> int:
    days = {a.created_at.date() for a in store.attempts() if a.created_at <= now}
    day: date = now.date()
    if day not in days:
        day -= timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    return streak


def mocks(store: Store) -> list[dict[str, Any]]:
    """Mock interviews, newest first, with their score and verdict band."""
    out = []
    for row in store.list_sessions(mode="mock"):
        report = mock_report(store, row.id)
        out.append(
            {
                "session_id": row.id,
                "level": report.level,
                "minutes": report.minutes,
                "status": report.status,
                "started_at": report.started_at,
                "answered": report.answered,
                "total": report.total,
                "score": report.score,
                "verdict": report.verdict if report.status != "active" else None,
            }
        )
    return out
