"""Operations on an open ORM session, for callers that need several in one transaction
(grading an answer writes the attempt, the card and the review log together).
``Store`` wraps each of them in its own transaction for everyone else.

The session is one user's (``quiz.store.scoping``): ORM queries see only that user's rows and
new rows are theirs. Cards and settings are written with an upsert, so two processes of one
user writing the same card at once both succeed instead of one failing on the key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from quiz.errors import NotFoundError
from quiz.store.models import (
    ATTEMPT_MODES,
    PRACTICAL_SOURCES,
    AttemptRow,
    PracticalRunRow,
    QuestionFlagRow,
    QuestionRow,
    ReviewCardRow,
    ReviewLogRow,
    SettingRow,
    StudySessionRow,
    UserRow,
    utcnow,
)
from quiz.store.scoping import session_user_id


def ensure_user(db: Session, name: str) -> int:
    """The id of user ``name``, adding them if new (safe when two processes add them at once)."""
    statement = _insert(db, UserRow).values(name=name, created_at=utcnow())
    db.execute(statement.on_conflict_do_nothing(index_elements=[UserRow.name]))
    return int(db.scalars(select(UserRow.id).where(UserRow.name == name)).one())


def _insert(db: Session, table: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ON CONFLICT for the session's backend (PostgreSQL or SQLite)."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"latency-quiz supports SQLite and PostgreSQL, not {dialect}")


def insert_ignoring_conflicts(db: Session, table: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that skips rows whose key is already there."""
    return _insert(db, table).on_conflict_do_nothing()


def _upsert(db: Session, table: type[Any], keys: list[str], values: dict[str, Any]) -> None:
    """Insert this user's row, or update it where (user_id, *keys) already exists."""
    row = {"user_id": session_user_id(db), **values}
    statement = _insert(db, table).values(row)
    changed = {name: statement.excluded[name] for name in values if name not in keys}
    statement = statement.on_conflict_do_update(index_elements=["user_id", *keys], set_=changed)
    db.execute(statement)


def question_row(db: Session, question_id: str) -> QuestionRow:
    row = db.get(QuestionRow, question_id)
    if row is None:
        raise NotFoundError(f"unknown question id {question_id!r} (not in the synced bank)")
    return row


def add_attempt(
    db: Session,
    *,
    question_id: str,
    seed: int,
    answer: str,
    score: float,
    correct: bool,
    duration_s: float | None,
    mode: str,
    session_id: int | None = None,
    rating: int | None = None,
    created_at: datetime | None = None,
) -> AttemptRow:
    if mode not in ATTEMPT_MODES:
        raise ValueError(f"attempt mode must be one of {ATTEMPT_MODES}, not {mode!r}")
    question = question_row(db, question_id)
    row = AttemptRow(
        question_id=question_id,
        question_version=question.version,
        seed=seed,
        answer=answer,
        score=float(score),
        correct=bool(correct),
        duration_s=duration_s,
        mode=mode,
        session_id=session_id,
        rating=rating,
        created_at=created_at or utcnow(),
    )
    db.add(row)
    db.flush()
    return row


def get_card(db: Session, question_id: str) -> ReviewCardRow | None:
    """The user's card for ``question_id``, locked until the transaction ends (PostgreSQL), so
    a concurrent review of the same card waits instead of overwriting this one."""
    query = select(ReviewCardRow).where(ReviewCardRow.question_id == question_id)
    return db.scalars(query.with_for_update()).one_or_none()


def put_card(
    db: Session, question_id: str, card: dict[str, Any], due: datetime, now: datetime
) -> ReviewCardRow:
    _upsert(
        db,
        ReviewCardRow,
        ["question_id"],
        {"question_id": question_id, "card": card, "due": due, "updated_at": now},
    )
    query = select(ReviewCardRow).where(ReviewCardRow.question_id == question_id)
    return db.scalars(query.execution_options(populate_existing=True)).one()


def cards_due_after(db: Session, moment: datetime) -> list[ReviewCardRow]:
    return list(db.scalars(select(ReviewCardRow).where(ReviewCardRow.due > moment)))


def add_review_log(
    db: Session, question_id: str, rating: int, review_log: dict[str, Any], reviewed_at: datetime
) -> ReviewLogRow:
    row = ReviewLogRow(
        question_id=question_id, rating=rating, review_log=review_log, reviewed_at=reviewed_at
    )
    db.add(row)
    db.flush()
    return row


def add_practical_run(
    db: Session,
    practical_id: str,
    result: dict[str, Any],
    source: str,
    *,
    created_at: datetime | None = None,
) -> PracticalRunRow:
    """Store a lab result. ``passed``, ``score``, ``duration_s`` and ``device`` are read from
    the result dict (a missing score counts 1.0 when passed, else 0.0)."""
    if source not in PRACTICAL_SOURCES:
        raise ValueError(f"practical source must be one of {PRACTICAL_SOURCES}, not {source!r}")
    passed = bool(result.get("passed", False))
    score = result.get("score")
    duration = result.get("duration_s")
    device = result.get("device")
    row = PracticalRunRow(
        practical_id=practical_id,
        source=source,
        passed=passed,
        score=float(score) if score is not None else (1.0 if passed else 0.0),
        duration_s=float(duration) if duration is not None else None,
        result=result,
        device=device if isinstance(device, dict) else {},
        created_at=created_at or utcnow(),
    )
    db.add(row)
    db.flush()
    return row


def question_flags(db: Session) -> dict[str, QuestionFlagRow]:
    """The browser's marks (flagged, suspended) by question id."""
    return {row.question_id: row for row in db.scalars(select(QuestionFlagRow))}


def set_question_flag(
    db: Session,
    question_id: str,
    *,
    flagged: bool | None = None,
    suspended: bool | None = None,
    now: datetime | None = None,
) -> QuestionFlagRow:
    """Set a question's flag and/or suspension (None leaves it as it is)."""
    question_row(db, question_id)  # NotFoundError for an unknown id
    row = question_flags(db).get(question_id)
    if row is None:
        row = QuestionFlagRow(question_id=question_id, flagged=False, suspended=False)
        db.add(row)
    if flagged is not None:
        row.flagged = flagged
    if suspended is not None:
        row.suspended = suspended
    row.updated_at = now or utcnow()
    db.flush()
    return row


def get_setting(db: Session, key: str, default: Any = None) -> Any:
    row = db.scalars(select(SettingRow).where(SettingRow.key == key)).one_or_none()
    return default if row is None else row.value


def setting_keys(db: Session) -> list[str]:
    return list(db.scalars(select(SettingRow.key).order_by(SettingRow.key)))


def set_setting(db: Session, key: str, value: Any) -> None:
    """Store a JSON-serialisable value under ``key`` (None deletes it)."""
    if value is None:
        row = db.scalars(select(SettingRow).where(SettingRow.key == key)).one_or_none()
        if row is not None:
            db.delete(row)
    else:
        _upsert(db, SettingRow, ["key"], {"key": key, "value": value})


def session_row(db: Session, session_id: int) -> StudySessionRow:
    row = db.get(StudySessionRow, session_id)
    if row is None:
        raise NotFoundError(f"unknown session id {session_id}")
    return row


def save_session_progress(
    db: Session,
    session_id: int,
    *,
    state: dict[str, Any] | None = None,
    elapsed_s: float | None = None,
    now: datetime | None = None,
) -> StudySessionRow:
    row = session_row(db, session_id)
    if state is not None:
        row.state = state
    if elapsed_s is not None:
        row.elapsed_s = float(elapsed_s)
    row.updated_at = now or utcnow()
    db.flush()
    return row


def attempts_query(
    *,
    question_id: str | None = None,
    session_id: int | None = None,
    mode: str | None = None,
    since: datetime | None = None,
) -> Select[AttemptRow]:
    query = select(AttemptRow).order_by(AttemptRow.created_at, AttemptRow.id)
    if question_id is not None:
        query = query.where(AttemptRow.question_id == question_id)
    if session_id is not None:
        query = query.where(AttemptRow.session_id == session_id)
    if mode is not None:
        query = query.where(AttemptRow.mode == mode)
    if since is not None:
        query = query.where(AttemptRow.created_at >= since)
    return query
