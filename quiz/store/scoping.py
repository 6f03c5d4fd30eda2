"""One user's view of the database, and retrying what the database asks to retry.

``scoped_sessionmaker(engine, user_id)`` makes sessions whose ORM SELECT, UPDATE and DELETE
statements on every ``UserOwned`` table are limited to ``user_id`` (``with_loader_criteria``)
and whose new ``UserOwned`` rows get ``user_id`` when they are flushed. ``retrying`` runs a
transaction body again after a deadlock, a serialization failure or a locked SQLite file.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from quiz.store.models import UserOwned

T = TypeVar("T")
USER_ID = "user_id"  # the key in Session.info
RETRIES = 8
FIRST_PAUSE_S = 0.02
# SQLSTATEs PostgreSQL documents as "retry the transaction": serialization failure, deadlock.
RETRYABLE_SQLSTATES = {"40001", "40P01"}


def scoped_sessionmaker(engine: Engine, user_id: int) -> sessionmaker[Session]:
    sessions = sessionmaker(engine, expire_on_commit=False, info={USER_ID: user_id})
    event.listen(sessions, "do_orm_execute", _only_this_users_rows)
    event.listen(sessions, "before_flush", _stamp_new_rows)
    return sessions


def session_user_id(db: Session) -> int:
    """The user a scoped session belongs to (for statements that bypass the ORM filter)."""
    return int(db.info[USER_ID])


def _only_this_users_rows(state: ORMExecuteState) -> None:
    if state.is_column_load or state.is_relationship_load:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    user_id = state.session.info[USER_ID]
    state.statement = state.statement.options(
        with_loader_criteria(
            UserOwned,
            lambda cls: cls.user_id == user_id,
            include_aliases=True,
        )
    )


def _stamp_new_rows(db: Session, _context: Any, _instances: Any) -> None:
    for row in db.new:
        if isinstance(row, UserOwned) and getattr(row, USER_ID, None) is None:
            row.user_id = db.info[USER_ID]


def retrying(sessions: sessionmaker[Session], body: Callable[[Session], T]) -> T:
    """``body(db)`` in one committed transaction, run again when the database asks for it."""
    pause, retries = FIRST_PAUSE_S, 0
    while True:
        try:
            with sessions.begin() as db:
                return body(db)
        except DBAPIError as err:
            retries += 1
            if retries > RETRIES or not is_retryable(err):
                raise
        time.sleep(pause * (1 + random.random()))  # jitter: retriers don't collide again
        pause *= 2


def is_retryable(err: DBAPIError) -> bool:
    original = err.orig
    if getattr(original, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return isinstance(original, sqlite3.OperationalError) and "locked" in str(original)


def reason(err: SQLAlchemyError) -> str:
    """The driver's own first line, without SQLAlchemy's statement dump."""
    original = getattr(err, "orig", None)
    return str(original if original is not None else err).splitlines()[0]
