"""The ORM: one class per table. Times are stored as naive UTC and read back as aware UTC.

Rows that leave the database through an export carry a ``uid`` (a uuid4 hex): importing the
same file twice finds them by it instead of duplicating them.

Every table but ``questions`` (the shared bank) and ``users`` belongs to one user: its class
derives from ``UserOwned`` and has a ``user_id``. ``quiz.store.store`` fills it in and filters
every query by it, so code above the store never names a user.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ATTEMPT_MODES = ("practice", "mock", "review", "cli", "practical")
SESSION_MODES = ("practice", "mock", "review")
SESSION_STATUSES = ("active", "finished", "abandoned")
PRACTICAL_SOURCES = ("workspace", "reference", "starter", "path")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_uid() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class UserRow(Base):
    """Someone who studies on this database (``--user``, ``LATENCY_QUIZ_USER`` or the login)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserOwned:
    """A table whose rows belong to one user (``user_id``); the store scopes it. Tables keyed
    by something the user names (a question, a setting) put ``user_id`` in their key."""

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)


class QuestionRow(Base):
    """The bank as last synced. ``version`` grows each time the question's content changes."""

    __tablename__ = "questions"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    content_hash: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(32), index=True)
    level: Mapped[str] = mapped_column(String(8), index=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]]
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class StudySessionRow(UserOwned, Base):
    """A practice, mock-interview or review session; ``state`` is the mode's own JSON."""

    __tablename__ = "study_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    mode: Mapped[str] = mapped_column(String(16), index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    time_limit_s: Mapped[int | None]
    elapsed_s: Mapped[float] = mapped_column(Float, default=0.0)


class AttemptRow(UserOwned, Base):
    """One graded answer. ``rating`` is the FSRS rating it produced, when it rated a card."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    question_version: Mapped[int]
    seed: Mapped[int]
    answer: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    correct: Mapped[bool]
    duration_s: Mapped[float | None] = mapped_column(Float)
    mode: Mapped[str] = mapped_column(String(16))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("study_sessions.id", ondelete="SET NULL"), index=True
    )
    rating: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ReviewCardRow(UserOwned, Base):
    """The FSRS card of one question (``fsrs.Card.to_dict()``), with its due time for queries."""

    __tablename__ = "review_cards"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    card: Mapped[dict[str, Any]]
    due: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuestionFlagRow(UserOwned, Base):
    """The browser's marks on one question: flagged for later, or suspended (out of reviews)."""

    __tablename__ = "question_flags"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewLogRow(UserOwned, Base):
    """One FSRS review (``fsrs.ReviewLog.to_dict()``)."""

    __tablename__ = "review_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    rating: Mapped[int]
    review_log: Mapped[dict[str, Any]]
    reviewed_at: Mapped[datetime] = mapped_column(index=True)


class PracticalRunRow(UserOwned, Base):
    """One graded practical run: the lab's result JSON and the device it ran on."""

    __tablename__ = "practical_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    practical_id: Mapped[str] = mapped_column(String(128), index=True)
    source: Mapped[str] = mapped_column(String(16))
    passed: Mapped[bool]
    score: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any]]
    device: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SettingRow(UserOwned, Base):
    """Key/value settings (the study plan lives here)."""

    __tablename__ = "settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
