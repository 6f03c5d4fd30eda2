"""Timed mock interviews: a set of questions for a target level under a clock, no feedback
until the end, saved after every answer and resumable after a crash.

Drawing (``start_mock``): about AT_LEVEL_SHARE of the minutes go to questions at the target
level and the rest to the level below (all at L1 for L1); within that, each pick takes the
least-used topic, then the least-used kind, ties at random; a question is only drawn when its
time budget still fits, so the budgets add up to at most the minutes. At most MAX_PRACTICALS
practical goes in, and only when its budget fits. Easier (lower-level) questions come first.

Questions answered in the last RECENT_DAYS are drawn only when nothing else fits, so a mock
does not repeat what was just practised.

Time (``MockSession.elapsed_s``) is wall-clock, as in a real interview: the session's
``elapsed_s`` column holds the interview time at its last save (``updated_at``) and the wall
time since that save is added, whether or not the app was running. Every answer saves, and
``heartbeat`` saves without an answer (the app calls it every HEARTBEAT_S seconds and when the
candidate leaves). Resuming after a gap of AWAY_MIN_S or more since the last save records an
away period (from the last save, so after a crash it may start up to HEARTBEAT_S early); the
report lists them. A practice-mode mock (``practice_mode``) pauses instead: its away periods are
recorded but not counted. An answer given after the time is up is not scored: the interview
ends (``MockTimeUp``).

One mock is active at a time: ``start_mock`` refuses while one is unfinished
(``MockActiveError``); ``abandon_mock`` ends one as abandoned (its report reveals only what was
answered).

Verdict bands (``band``): the mean score over all drawn questions (unanswered count 0) —
strong hire ≥ 0.85, hire ≥ 0.70, lean no hire ≥ 0.55, no hire below. The overall verdict is for
the target level; ``per_level`` gives the same bands for the questions of each level drawn.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from quiz.errors import QuizError, UsageError
from quiz.store import Store, StudySessionRow, ops
from quiz.study.practice import record_graded
from quiz.study.reviews import utc

if TYPE_CHECKING:
    from quiz.bank import Bank, Instance, Question
    from quiz.grading import Verdict

Clock = Callable[[], datetime]
LEVELS = ("L1", "L2", "L3", "L4")
AT_LEVEL_SHARE = 0.7
MAX_PRACTICALS = 1
HEARTBEAT_S = 15
AWAY_MIN_S = 20
RECENT_DAYS = 2
BANDS = ((0.85, "strong hire"), (0.70, "hire"), (0.55, "lean no hire"), (0.0, "no hire"))


class MockTimeUp(QuizError):
    """The interview's time ran out before this answer; it was not scored."""


class MockActiveError(UsageError):
    """Another mock interview is unfinished: resume it or abandon it first."""

    def __init__(self, session_id: int) -> None:
        super().__init__(
            f"mock interview #{session_id} is unfinished: resume it, or abandon it first"
        )
        self.session_id = session_id


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


def band(score: float) -> str:
    for threshold, name in BANDS:
        if score >= threshold:
            return name
    return BANDS[-1][1]


@dataclass(frozen=True)
class MockItem:
    question_id: str
    seed: int
    level: str
    topic: str
    kind: str
    title: str
    budget_s: int


@dataclass
class MockSession:
    """An open mock interview. ``answers`` holds one dict per answered item, in order."""

    session_id: int
    level: str
    minutes: int
    items: list[MockItem]
    answers: list[dict[str, Any]]
    saved_elapsed_s: float
    saved_at: datetime
    clock: Clock = field(default=system_clock, repr=False)
    practice_mode: bool = False
    away: list[dict[str, Any]] = field(default_factory=list)

    @property
    def time_limit_s(self) -> int:
        return self.minutes * 60

    @property
    def answered(self) -> int:
        return len(self.answers)

    def elapsed_s(self) -> float:
        return self.saved_elapsed_s + max(0.0, (self.clock() - self.saved_at).total_seconds())

    def remaining_s(self) -> float:
        return max(0.0, self.time_limit_s - self.elapsed_s())

    @property
    def time_up(self) -> bool:
        return self.remaining_s() <= 0

    @property
    def done(self) -> bool:
        return self.answered >= len(self.items)

    def current(self) -> MockItem | None:
        return None if self.done else self.items[self.answered]

    def instance(self, bank: Bank) -> Instance:
        """The current question as the candidate sees it."""
        from quiz.bank import instantiate

        item = self.current()
        if item is None:
            raise UsageError("every question of this mock interview is answered")
        return instantiate(bank.get(item.question_id), item.seed)

    def state(self, answers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "items": [asdict(i) for i in self.items],
            "answers": self.answers if answers is None else answers,
            "away": self.away,
        }


def start_mock(
    store: Store,
    bank: Bank,
    *,
    level: str,
    minutes: int,
    seed: int | None = None,
    clock: Clock = system_clock,
    practice_mode: bool = False,
    unavailable: set[str] | frozenset[str] = frozenset(),
) -> MockSession:
    """Draw the questions (see the module docstring; never one in ``unavailable``, e.g. a
    GPU-only practical on a machine without one), save the session and start the clock.
    Raises MockActiveError while another mock is unfinished."""
    if level not in LEVELS:
        raise UsageError(f"unknown level {level!r} (one of: {', '.join(LEVELS)})")
    if minutes <= 0:
        raise UsageError("a mock interview needs at least one minute")
    active = store.list_sessions(mode="mock", status="active")
    if active:
        raise MockActiveError(active[0].id)
    now = utc(clock())
    recent = {a.question_id for a in store.attempts(since=now - timedelta(days=RECENT_DAYS))}
    rng = random.Random(seed)
    items = draw_items(bank, level, minutes * 60, rng, recent=recent, unavailable=unavailable)
    if not items:
        raise UsageError(f"no {level} question fits in {minutes} minutes")
    session_id = store.create_session(
        "mock",
        settings={
            "level": level,
            "minutes": minutes,
            "seed": seed,
            "practice_mode": practice_mode,
        },
        state={"items": [asdict(i) for i in items], "answers": [], "away": []},
        time_limit_s=minutes * 60,
        started_at=now,
    )
    return MockSession(
        session_id, level, minutes, items, [], 0.0, now, clock, practice_mode=practice_mode
    )


def draw_items(
    bank: Bank,
    level: str,
    budget_s: int,
    rng: random.Random,
    *,
    recent: set[str] | frozenset[str] = frozenset(),
    unavailable: set[str] | frozenset[str] = frozenset(),
) -> list[MockItem]:
    below = LEVELS[LEVELS.index(level) - 1] if level != "L1" else None
    levels = [level, below] if below else [level]
    pools: dict[str, list[Question]] = {
        lvl: [q for q in bank.filter(level=lvl) if q.id not in unavailable] for lvl in levels
    }
    for pool in pools.values():
        rng.shuffle(pool)
    share_below = (1 - AT_LEVEL_SHARE) * budget_s if below else 0.0
    used: Counter[str] = Counter()  # seconds per level
    topics: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    chosen: list[Question] = []
    while True:
        left = budget_s - sum(used.values())
        fits = {
            lvl: [q for q in pool if q.time_budget_s <= left and _allowed(q, kinds)]
            for lvl, pool in pools.items()
        }
        groups = list(pools)  # the target level first
        if below is not None and used[below] < share_below:
            groups = [below, level]
        group = next((g for g in groups if fits[g]), None)
        if group is None:
            break
        pick = min(fits[group], key=lambda q: (q.id in recent, topics[q.topic], kinds[q.kind]))
        pools[group].remove(pick)
        chosen.append(pick)
        used[group] += pick.time_budget_s
        topics[pick.topic] += 1
        kinds[pick.kind] += 1
    chosen.sort(key=lambda q: LEVELS.index(q.level))
    return [
        MockItem(
            q.id, rng.randint(0, 2**31 - 1), q.level, q.topic, q.kind, q.title, q.time_budget_s
        )
        for q in chosen
    ]


def _allowed(question: Question, kinds: Counter[str]) -> bool:
    return question.kind != "practical" or kinds["practical"] < MAX_PRACTICALS


def record_mock_answer(
    store: Store,
    bank: Bank,
    mock: MockSession,
    answer: str,
    *,
    practical_result: dict[str, Any] | None = None,
    at_deadline: bool = False,
) -> None:
    """Grade and save the answer to the current question (attempt, review card and session
    state in one transaction). Nothing about the grade is returned: feedback waits for the
    report. An empty answer passes on the question (score 0). A practical item takes the lab's
    result dict instead (stored as a workspace run). Raises MockTimeUp (after ending the
    interview) when the time has run out, AnswerFormatError for an unreadable answer.
    ``at_deadline``: the answer that was on screen when time ran out; it is recorded as given
    at the deadline instead of being refused."""
    if mock.time_up and not at_deadline:
        finish_mock(store, mock)
        raise MockTimeUp("time is up: the mock interview has ended and that answer was not scored")
    instance = mock.instance(bank)
    elapsed = min(mock.elapsed_s(), float(mock.time_limit_s))
    now = utc(min(mock.clock(), mock.saved_at + timedelta(seconds=elapsed - mock.saved_elapsed_s)))
    duration = round(max(0.0, elapsed - sum(a["duration_s"] for a in mock.answers)), 3)
    with store.session() as db:
        if practical_result is None:
            verdict = _graded(instance, answer)
        else:
            run = ops.add_practical_run(
                db, instance.question_id, practical_result, "workspace", created_at=now
            )
            verdict = _practical_verdict(instance, run.score, run.passed)
            answer = f"practical run #{run.id}"
        attempt = record_graded(
            db,
            instance,
            answer,
            verdict,
            duration_s=duration,
            mode="mock",
            session_id=mock.session_id,
            self_rating=None,
            now=now,
        )
        entry = {
            "question_id": instance.question_id,
            "attempt_uid": attempt.uid,
            "duration_s": duration,
            "score": float(verdict.score),
            "correct": bool(verdict.correct),
            "answer": answer,
            "expected": verdict.expected,
            "feedback": verdict.feedback,
            "prompt": instance.prompt,
            "explanation": instance.explanation,
        }
        state = mock.state([*mock.answers, entry])
        ops.save_session_progress(db, mock.session_id, state=state, elapsed_s=elapsed, now=now)
    mock.answers.append(entry)
    mock.saved_elapsed_s, mock.saved_at = elapsed, now


def _graded(instance: Instance, answer: str) -> Verdict:
    from quiz.grading import Verdict, grade

    if not answer.strip():
        return Verdict(0.0, False, "No answer given.", expected_text(instance))
    return grade(instance, answer)


def _practical_verdict(instance: Instance, score: float, passed: bool) -> Verdict:
    from quiz.grading import Verdict

    outcome = "passed every check" if passed else f"passed {score:.0%} of the checks"
    return Verdict(score, passed, f"The practical {outcome}.", expected_text(instance))


def expected_text(instance: Instance) -> str:
    """The key in words, for questions the candidate did not answer."""
    if instance.kind == "practical":
        return f"a run that passes every check of practical {instance.practical}"
    if instance.model_answer is not None:
        return instance.model_answer
    key = instance.key_json()
    if isinstance(key, dict):
        return f"{key['value']:g} {key['unit']}".strip()
    ids = [key] if isinstance(key, str) else list(key)
    texts = {choice.id: choice.text for choice in instance.choices}
    return "; ".join(f"{i}) {texts[i]}" if i in texts else str(i) for i in ids)


def heartbeat(store: Store, mock: MockSession) -> None:
    """Save the elapsed time without an answer, so a crash loses at most HEARTBEAT_S."""
    now = utc(mock.clock())
    elapsed = mock.elapsed_s()
    store.update_session(mock.session_id, elapsed_s=elapsed, now=now)
    mock.saved_elapsed_s, mock.saved_at = elapsed, now


def finish_mock(
    store: Store, mock: MockSession, *, status: str = "finished", bank: Bank | None = None
) -> MockReport:
    """End the interview (``status`` "finished" or "abandoned") and return its report
    (``bank`` fills in the walk-through of unanswered questions)."""
    now = utc(mock.clock())
    elapsed = min(mock.elapsed_s(), float(mock.time_limit_s))
    store.finish_session(mock.session_id, status=status, elapsed_s=elapsed, now=now)
    mock.saved_elapsed_s, mock.saved_at = elapsed, now
    return mock_report(store, mock.session_id, bank)


def resume_mock(store: Store, session_id: int, *, clock: Clock = system_clock) -> MockSession:
    """Re-open an active mock interview. The time since its last save counts (paused in
    practice mode); a gap of AWAY_MIN_S or more is recorded as an away period."""
    row = store.get_session(session_id)
    if row.mode != "mock" or row.status != "active":
        raise UsageError(f"session {session_id} is not an unfinished mock interview")
    mock = _from_row(row, clock)
    now = utc(clock())
    gap = (now - mock.saved_at).total_seconds()
    if gap >= AWAY_MIN_S:
        counted = min(gap, max(0.0, mock.time_limit_s - mock.saved_elapsed_s))
        mock.away.append(
            {
                "left_at": mock.saved_at.isoformat(),
                "back_at": now.isoformat(),
                "seconds": round(gap, 1),
                "counted_s": 0.0 if mock.practice_mode else round(counted, 1),
            }
        )
    elapsed = mock.saved_elapsed_s if mock.practice_mode else mock.elapsed_s()
    elapsed = min(elapsed, float(mock.time_limit_s))
    store.update_session(session_id, state=mock.state(), elapsed_s=elapsed, now=now)
    mock.saved_elapsed_s, mock.saved_at = elapsed, now
    return mock


def abandon_mock(store: Store, session_id: int, *, clock: Clock = system_clock) -> None:
    """End an unfinished mock interview as abandoned (never reported as timed out)."""
    row = store.get_session(session_id)
    if row.mode != "mock" or row.status != "active":
        raise UsageError(f"session {session_id} is not an unfinished mock interview")
    mock = _from_row(row, clock)
    now = utc(clock())
    elapsed = mock.saved_elapsed_s if mock.practice_mode else mock.elapsed_s()
    store.finish_session(
        session_id,
        status="abandoned",
        elapsed_s=min(elapsed, float(mock.time_limit_s)),
        now=now,
    )


def _from_row(row: StudySessionRow, clock: Clock) -> MockSession:
    """The session as saved: its clock runs from the last save (``updated_at``)."""
    items = [MockItem(**item) for item in row.state.get("items", [])]
    return MockSession(
        session_id=row.id,
        level=str(row.settings.get("level", "")),
        minutes=int(row.settings.get("minutes", (row.time_limit_s or 0) // 60)),
        items=items,
        answers=list(row.state.get("answers", [])),
        saved_elapsed_s=row.elapsed_s,
        saved_at=utc(row.updated_at),
        clock=clock,
        practice_mode=bool(row.settings.get("practice_mode", False)),
        away=list(row.state.get("away", [])),
    )


def resume_candidates(store: Store, *, clock: Clock = system_clock) -> list[dict[str, Any]]:
    """Unfinished mock interviews, newest first: session_id, level, minutes, answered, total,
    remaining_s (the wall clock runs while the app is closed, except in practice mode),
    practice_mode, started_at."""
    out = []
    for row in store.list_sessions(mode="mock", status="active"):
        mock = _from_row(row, clock)
        remaining = mock.time_limit_s - mock.saved_elapsed_s
        if not mock.practice_mode:
            remaining = mock.remaining_s()
        out.append(
            {
                "session_id": row.id,
                "level": mock.level,
                "minutes": mock.minutes,
                "answered": mock.answered,
                "total": len(mock.items),
                "remaining_s": round(max(0.0, remaining), 1),
                "practice_mode": mock.practice_mode,
                "started_at": row.started_at.isoformat(),
            }
        )
    return out


@dataclass(frozen=True)
class MockReport:
    session_id: int
    level: str
    minutes: int
    status: str
    started_at: str
    finished_at: str | None
    elapsed_s: float
    time_limit_s: int
    answered: int
    total: int
    score: float
    verdict: str
    per_topic: dict[str, dict[str, Any]]
    per_level: dict[str, dict[str, Any]]
    items: list[dict[str, Any]]
    practice_mode: bool = False
    away: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mock_report(store: Store, session_id: int, bank: Bank | None = None) -> MockReport:
    """Score, score per topic and per level, time per question against its budget, the verdict
    band, the away periods, and the walk-through (prompt, answer, expected, explanation) of
    every question; unanswered questions get theirs from ``bank`` when it is given and still has
    them, except in an abandoned interview (its unreached questions stay unseen)."""
    row = store.get_session(session_id)
    if row.mode != "mock":
        raise UsageError(f"session {session_id} is not a mock interview")
    mock = _from_row(row, system_clock)
    reveal_bank = None if row.status == "abandoned" else bank
    items = []
    for index, item in enumerate(mock.items):
        given = mock.answers[index] if index < mock.answered else None
        shown = given or _unanswered(reveal_bank, item)
        items.append(
            {
                **asdict(item),
                "answered": given is not None,
                "score": given["score"] if given else 0.0,
                "correct": given["correct"] if given else False,
                "duration_s": given["duration_s"] if given else None,
                "over_budget": bool(given and given["duration_s"] > item.budget_s),
                **{
                    key: shown.get(key)
                    for key in ("answer", "expected", "feedback", "prompt", "explanation")
                },
            }
        )
    return MockReport(
        session_id=row.id,
        level=mock.level,
        minutes=mock.minutes,
        status=row.status,
        started_at=row.started_at.isoformat(),
        finished_at=row.finished_at.isoformat() if row.finished_at else None,
        elapsed_s=round(row.elapsed_s, 1),
        time_limit_s=mock.time_limit_s,
        answered=mock.answered,
        total=len(items),
        score=_mean([i["score"] for i in items]),
        verdict=band(_mean([i["score"] for i in items])),
        per_topic=_grouped(items, "topic"),
        per_level=_grouped(items, "level", with_band=True),
        items=items,
        practice_mode=mock.practice_mode,
        away=mock.away,
    )


def _unanswered(bank: Bank | None, item: MockItem) -> dict[str, Any]:
    if bank is None or item.question_id not in bank:
        return {}
    from quiz.bank import instantiate

    instance = instantiate(bank.get(item.question_id), item.seed)
    return {
        "prompt": instance.prompt,
        "explanation": instance.explanation,
        "expected": expected_text(instance),
        "feedback": "Not answered in time.",
    }


def _grouped(
    items: list[dict[str, Any]], key: str, *, with_band: bool = False
) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        groups[item[key]].append(item)
    out = {}
    for name, members in sorted(groups.items()):
        score = _mean([m["score"] for m in members])
        entry: dict[str, Any] = {
            "score": score,
            "answered": sum(m["answered"] for m in members),
            "total": len(members),
        }
        if with_band:
            entry["verdict"] = band(score)
        out[name] = entry
    return out


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0
