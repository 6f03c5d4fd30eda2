"""The roadmap (``questions/roadmap.yaml``) and the user's interview-date plan.

The plan is a start date and an interview date, stored in the ``plan`` setting. The roadmap's
phases (6 + 8 + 10 weeks) are stretched or squeezed proportionally onto that window, which
gives the phase the user *should* be in today.

Ahead / on track / behind compares two fractions of the whole roadmap:
``done = Σ weeks_p · min(1, mastery_p / COMPLETE_MASTERY) / Σ weeks_p`` against
``expected = days since start / days in the window`` (clamped to 0..1): ahead when done ≥
expected + ON_TRACK_MARGIN, behind when done < expected − ON_TRACK_MARGIN, on track otherwise.

Interview-date mode (active while a plan is set and the interview is still ahead): no review is
scheduled after the interview day begins (00:00 UTC); reviews due later are pulled to the eve
(00:00 UTC the day before), and a card reviewed on the eve waits until the interview day.
Setting a plan applies the same cap to the reviews already scheduled. In the
last FINAL_DAYS days the review queue and practice picks put the weakest topics first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from quiz import config
from quiz.errors import QuizError, UsageError
from quiz.store import Store, ops

PLAN_SETTING = "plan"
COMPLETE_MASTERY = 0.7
ON_TRACK_MARGIN = 0.10
FINAL_DAYS = 7


class RoadmapError(QuizError):
    """roadmap.yaml is missing or malformed."""


@dataclass(frozen=True)
class Phase:
    id: str
    name: str  # what the app calls it: "Foundations"
    title: str  # what it covers: "ML Systems & Profiling"
    weeks: int
    goals: tuple[str, ...]
    milestone: str
    milestone_summary: str


@dataclass(frozen=True)
class Level:
    id: str
    title: str
    experience: str


@dataclass(frozen=True)
class Roadmap:
    phases: tuple[Phase, ...]
    levels: tuple[Level, ...]

    @property
    def total_weeks(self) -> int:
        return sum(p.weeks for p in self.phases)

    def phase(self, phase_id: str) -> Phase:
        for phase in self.phases:
            if phase.id == phase_id:
                return phase
        raise RoadmapError(f"no phase {phase_id!r} in the roadmap")


def load_roadmap(path: Path | None = None) -> Roadmap:
    """Read the roadmap (default: roadmap.yaml beside the shipped bank)."""
    path = path or config.bank_dir() / "roadmap.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        phases = tuple(
            Phase(
                id=str(p["id"]),
                name=str(p["name"]),
                title=str(p["title"]),
                weeks=int(p["weeks"]),
                goals=tuple(str(g) for g in p["goals"]),
                milestone=str(p["milestone"]),
                milestone_summary=str(p.get("milestone_summary", "")).strip(),
            )
            for p in data["phases"]
        )
        levels = tuple(
            Level(id=str(lv["id"]), title=str(lv["title"]), experience=str(lv["experience"]))
            for lv in data["levels"]
        )
    except OSError as err:
        raise RoadmapError(f"cannot read the roadmap {path}: {err.strerror}") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise RoadmapError(f"{path}: malformed roadmap ({err})") from None
    if not phases or any(p.weeks <= 0 for p in phases):
        raise RoadmapError(f"{path}: the roadmap needs phases with a positive number of weeks")
    return Roadmap(phases, levels)


@dataclass(frozen=True)
class Plan:
    start: date
    interview: date

    @property
    def interview_start(self) -> datetime:
        """The moment the interview day begins (00:00 UTC): no review is scheduled after it."""
        return datetime.combine(self.interview, time(0), tzinfo=timezone.utc)

    def to_setting(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "interview": self.interview.isoformat()}

    @classmethod
    def from_setting(cls, value: Any) -> Plan | None:
        try:
            return cls(date.fromisoformat(value["start"]), date.fromisoformat(value["interview"]))
        except (TypeError, KeyError, ValueError):
            return None


def get_plan(store: Store) -> Plan | None:
    return Plan.from_setting(store.get_setting(PLAN_SETTING))


def plan_in(db: Session) -> Plan | None:
    """The plan, read inside an open transaction."""
    return Plan.from_setting(ops.get_setting(db, PLAN_SETTING))


def set_plan(store: Store, start: date, interview: date, *, now: datetime | None = None) -> Plan:
    """Save the plan and pull every review already scheduled after the deadline back to it."""
    if interview <= start:
        raise UsageError(f"the interview date {interview} must come after the start {start}")
    plan = Plan(start, interview)
    now = now or datetime.now(timezone.utc)
    deadline = review_deadline(plan, now)
    with store.session() as db:
        ops.set_setting(db, PLAN_SETTING, plan.to_setting())
        if deadline is not None:
            for row in ops.cards_due_after(db, deadline):
                card = {**row.card, "due": deadline.isoformat()}
                ops.put_card(db, row.question_id, card, deadline, now)
    return plan


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def review_deadline(plan: Plan | None, now: datetime) -> datetime | None:
    """The latest a review may be scheduled for at ``now``, or None when there's no cap."""
    if plan is None or now >= plan.interview_start:
        return None
    eve = plan.interview_start - timedelta(days=1)
    return eve if now < eve else plan.interview_start


def in_final_days(plan: Plan | None, now: datetime) -> bool:
    if plan is None or now >= plan.interview_start:
        return False
    return plan.interview_start - now <= timedelta(days=FINAL_DAYS)


def phase_windows(plan: Plan, roadmap: Roadmap) -> list[tuple[Phase, date, date]]:
    """Each phase's [start, end) dates once the roadmap is fitted onto the plan's window."""
    total_days = (plan.interview - plan.start).days
    windows, cumulative = [], 0
    for phase in roadmap.phases:
        begin = plan.start + timedelta(days=round(total_days * cumulative / roadmap.total_weeks))
        cumulative += phase.weeks
        end = plan.start + timedelta(days=round(total_days * cumulative / roadmap.total_weeks))
        windows.append((phase, begin, end))
    return windows


def plan_status(
    plan: Plan | None, roadmap: Roadmap, mastery: dict[str, float], today: date
) -> dict[str, Any]:
    """The ``plan`` object of ``progress --json`` (all values None when no plan is set)."""
    keys = (
        "warning",
        "start",
        "interview",
        "today",
        "week",
        "weeks_total",
        "days_left",
        "phase",
        "phase_name",
        "phase_title",
        "expected_done",
        "done",
        "status",
    )
    if plan is None:
        return dict.fromkeys(keys)
    total_days = (plan.interview - plan.start).days
    elapsed = (today - plan.start).days
    expected = min(1.0, max(0.0, elapsed / total_days))
    done = (
        sum(p.weeks * min(1.0, mastery.get(p.id, 0.0) / COMPLETE_MASTERY) for p in roadmap.phases)
        / roadmap.total_weeks
    )
    current = current_phase(plan, roadmap, today)
    if done >= expected + ON_TRACK_MARGIN:
        status = "ahead"
    elif done < expected - ON_TRACK_MARGIN:
        status = "behind"
    else:
        status = "on track"
    return {
        "warning": squeeze_warning(plan, roadmap, today),
        "start": plan.start.isoformat(),
        "interview": plan.interview.isoformat(),
        "today": today.isoformat(),
        "week": elapsed // 7 + 1 if elapsed >= 0 else 0,
        "weeks_total": -(-total_days // 7),
        "days_left": max(0, (plan.interview - today).days),
        "phase": current.id,
        "phase_name": current.name,
        "phase_title": current.title,
        "expected_done": round(expected, 3),
        "done": round(done, 3),
        "status": status,
    }


def squeeze_warning(plan: Plan, roadmap: Roadmap, today: date) -> str | None:
    """Said when the time left is shorter than the roadmap: every phase is squeezed."""
    weeks_left = max(0, (plan.interview - max(today, plan.start)).days) / 7
    if weeks_left >= roadmap.total_weeks:
        return None
    return (
        f"{weeks_left:.1f} weeks left for the {roadmap.total_weeks}-week roadmap: each phase "
        f"gets {weeks_left / roadmap.total_weeks:.0%} of its length. Expect to cover less, "
        "or move the interview date."
    )


def current_phase(plan: Plan, roadmap: Roadmap, today: date) -> Phase:
    for phase, _begin, end in phase_windows(plan, roadmap):
        if today < end:
            return phase
    return roadmap.phases[-1]
