"""The question browser's data: every question with its marks (flagged, suspended), whether its
review is due, and its last score; and the search and filters over them (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from quiz.study.reviews import utc

if TYPE_CHECKING:
    from quiz.bank import Bank
    from quiz.store import Store

SHOW = ("all", "flagged", "suspended", "due")


@dataclass(frozen=True)
class BrowseRow:
    question_id: str
    title: str
    phase: str
    level: str
    topic: str
    kind: str
    text: str  # lower-case id, title, prompt and topic: what the search reads
    flagged: bool
    suspended: bool
    due: bool
    last_score: float | None


def browse_rows(store: Store, bank: Bank, now: datetime | None = None) -> list[BrowseRow]:
    """Every question of the bank, ordered by phase, level and id."""
    now = utc(now)
    flags = store.question_flags()
    due = {row.question_id for row in store.cards(due_before=now)}
    last: dict[str, float] = {}
    for attempt in store.attempts():  # oldest first: the last one wins
        last[attempt.question_id] = attempt.score
    rows = []
    for question in bank.questions.values():
        flagged, suspended = flags.get(question.id, (False, False))
        rows.append(
            BrowseRow(
                question_id=question.id,
                title=question.title,
                phase=question.phase,
                level=question.level,
                topic=question.topic,
                kind=question.kind,
                text=" ".join(
                    (question.id, question.title, question.topic, question.prompt)
                ).lower(),
                flagged=flagged,
                suspended=suspended,
                due=question.id in due and not suspended,
                last_score=last.get(question.id),
            )
        )
    phases = ("foundations", "core", "advanced")
    rows.sort(
        key=lambda r: (phases.index(r.phase) if r.phase in phases else 9, r.level, r.question_id)
    )
    return rows


def filter_rows(
    rows: list[BrowseRow],
    *,
    search: str = "",
    phase: str | None = None,
    level: str | None = None,
    topic: str | None = None,
    kind: str | None = None,
    show: str = "all",
) -> list[BrowseRow]:
    """Rows matching every word of ``search`` and every filter given (None: any)."""
    words = search.lower().split()
    wanted = {"phase": phase, "level": level, "topic": topic, "kind": kind}
    out = []
    for row in rows:
        if any(value is not None and getattr(row, key) != value for key, value in wanted.items()):
            continue
        if show != "all" and not getattr(row, show):
            continue
        if all(word in row.text for word in words):
            out.append(row)
    return out
