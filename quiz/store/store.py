"""``open_store`` and ``Store``: the database as the rest of the program sees it.

Every method runs in its own transaction and commits before it returns, so an answer is on
disk the moment ``record_attempt`` (or ``quiz.study.practice.submit_answer``) returns. Rows
handed back are detached snapshots: read them, don't modify them.

A ``Store`` is one user's view (``Store.user``): ``quiz.store.scoping`` filters every ORM query
on a ``UserOwned`` table by that user and stamps new rows with them, so nothing above the store
names a user. ``as_user`` gives another user's view on the same engine (the cohort view).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from quiz import config
from quiz.errors import StoreError
from quiz.store import ops, scoping
from quiz.store.engine import (
    make_engine,
    parse_url,
    refuse_foreign_file,
    shown_url,
    sqlite_file,
    upgrade_to_head,
)
from quiz.store.models import (
    SESSION_MODES,
    SESSION_STATUSES,
    AttemptRow,
    PracticalRunRow,
    QuestionRow,
    ReviewCardRow,
    ReviewLogRow,
    StudySessionRow,
    UserRow,
    utcnow,
)

if TYPE_CHECKING:
    from quiz.bank import Bank, Question


T = TypeVar("T")


@dataclass(frozen=True)
class SyncReport:
    added: int
    updated: int
    unchanged: int
    retired: int


def open_store(url: str | None = None, user: str | None = None) -> Store:
    """Open (creating if needed) and migrate the database at ``url`` (default:
    ``quiz.config.database_url()``) as ``user`` (default: ``quiz.config.user_name()``).
    Raises StoreError (or UsageError for a bad user name) with one line."""
    name = config.user_name(user)
    parsed = parse_url(config.database_url(url))
    path = sqlite_file(parsed)
    if path is not None:
        refuse_foreign_file(path, str(path))
    upgrade_to_head(parsed, name)
    return Store(parsed.render_as_string(hide_password=False), name)


class Store:
    def __init__(self, url: str, user: str, *, engine: Engine | None = None) -> None:
        parsed = parse_url(url)
        self.url = url
        self.shown = shown_url(parsed)
        self.engine = engine if engine is not None else make_engine(parsed)
        self.user = config.check_user_name(user)
        unscoped = sessionmaker(self.engine, expire_on_commit=False)
        self.user_id = self._retrying(unscoped, lambda db: ops.ensure_user(db, user))
        self._sessions = scoping.scoped_sessionmaker(self.engine, self.user_id)

    def as_user(self, user: str) -> Store:
        """The same database seen as ``user`` (created if new), sharing this store's engine."""
        return Store(self.url, user, engine=self.engine)

    def server(self) -> dict[str, str]:
        """The backend and its server version: {"backend": "postgresql", "version": "15.18"}."""
        with self.engine.connect() as conn:
            version = conn.dialect.server_version_info or ()
        return {
            "backend": self.engine.dialect.name,
            "version": ".".join(str(part) for part in version),
        }

    def users(self) -> list[str]:
        """Everyone who has opened this database, by name."""
        with self.session() as db:
            return list(db.scalars(select(UserRow.name).order_by(UserRow.name)))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises. The
        session sees and writes only this store's user's rows. A body that the database may
        ask to retry (a deadlock, a serialization failure, a locked SQLite file) belongs in
        ``write`` instead, which runs it again."""
        try:
            with self._sessions.begin() as db:
                yield db
        except SQLAlchemyError as err:
            raise StoreError(f"database error at {self.shown}: {scoping.reason(err)}") from err

    def write(self, body: Callable[[Session], T]) -> T:
        """Run ``body(db)`` in one transaction and return its result, running it again (up to
        ``scoping.RETRIES`` times, with a short growing pause) when the database says the
        transaction may succeed if retried."""
        return self._retrying(self._sessions, body)

    def _retrying(self, sessions: sessionmaker[Session], body: Callable[[Session], T]) -> T:
        try:
            return scoping.retrying(sessions, body)
        except SQLAlchemyError as err:
            raise StoreError(f"database error at {self.shown}: {scoping.reason(err)}") from err

    # -- the bank ---------------------------------------------------------------------------

    def sync_bank(self, bank: Bank) -> SyncReport:
        """Mirror the bank into the questions table. A changed question keeps its id and its
        attempts and gets version + 1; a question gone from the bank is marked retired."""
        hashes = {qid: q.content_hash() for qid, q in bank.questions.items()}

        def sync(db: Session) -> SyncReport:
            known = {
                row.id: row
                for row in db.execute(
                    select(
                        QuestionRow.id,
                        QuestionRow.version,
                        QuestionRow.content_hash,
                        QuestionRow.retired,
                    )
                )
            }
            inserts, updates = [], []
            unchanged = 0
            for qid, question in bank.questions.items():
                old = known.get(qid)
                if old is None:
                    inserts.append(
                        {"id": qid, "version": 1, **_question_fields(question, hashes[qid])}
                    )
                elif old.content_hash != hashes[qid]:
                    updates.append(
                        {
                            "id": qid,
                            "version": old.version + 1,
                            **_question_fields(question, hashes[qid]),
                        }
                    )
                elif old.retired:
                    updates.append({"id": qid, "retired": False})
                else:
                    unchanged += 1
            retire = [
                {"id": qid, "retired": True}
                for qid, row in known.items()
                if qid not in hashes and not row.retired
            ]
            if inserts:  # another process syncing the same bank may have added them first
                db.execute(ops.insert_ignoring_conflicts(db, QuestionRow), inserts)
            if updates or retire:
                db.execute(update(QuestionRow), updates + retire)
            return SyncReport(len(inserts), len(updates), unchanged, len(retire))

        return self.write(sync)

    def questions(self, *, include_retired: bool = False) -> list[QuestionRow]:
        with self.session() as db:
            query = select(QuestionRow).order_by(QuestionRow.id)
            if not include_retired:
                query = query.where(QuestionRow.retired.is_(False))
            return list(db.scalars(query))

    # -- attempts ---------------------------------------------------------------------------

    def record_attempt(
        self,
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
    ) -> int:
        """Store one graded answer (committed on return) and give back its id."""

        def add(db: Session) -> int:
            row = ops.add_attempt(
                db,
                question_id=question_id,
                seed=seed,
                answer=answer,
                score=score,
                correct=correct,
                duration_s=duration_s,
                mode=mode,
                session_id=session_id,
                rating=rating,
                created_at=created_at,
            )
            return row.id

        return self.write(add)

    def attempts(
        self,
        *,
        question_id: str | None = None,
        session_id: int | None = None,
        mode: str | None = None,
        since: datetime | None = None,
    ) -> list[AttemptRow]:
        """Attempts, oldest first, optionally filtered."""
        query = ops.attempts_query(
            question_id=question_id, session_id=session_id, mode=mode, since=since
        )
        with self.session() as db:
            return list(db.scalars(query))

    # -- reviews ----------------------------------------------------------------------------

    def cards(self, *, due_before: datetime | None = None) -> list[ReviewCardRow]:
        """FSRS cards of questions still in the bank, soonest due first."""
        query = (
            select(ReviewCardRow)
            .join(QuestionRow)
            .where(QuestionRow.retired.is_(False))
            .order_by(ReviewCardRow.due, ReviewCardRow.question_id)
        )
        if due_before is not None:
            query = query.where(ReviewCardRow.due <= due_before)
        with self.session() as db:
            return list(db.scalars(query))

    def review_logs(self, *, since: datetime | None = None) -> list[ReviewLogRow]:
        """FSRS review logs, oldest first."""
        query = select(ReviewLogRow).order_by(ReviewLogRow.reviewed_at, ReviewLogRow.id)
        if since is not None:
            query = query.where(ReviewLogRow.reviewed_at >= since)
        with self.session() as db:
            return list(db.scalars(query))

    # -- practicals -------------------------------------------------------------------------

    def record_practical_run(
        self,
        practical_id: str,
        result: dict[str, Any],
        source: str,
        *,
        created_at: datetime | None = None,
    ) -> int:
        """Store a lab result (see ``ops.add_practical_run`` for the keys read) and return its id."""
        return self.write(
            lambda db: (
                ops.add_practical_run(db, practical_id, result, source, created_at=created_at).id
            )
        )

    def practical_runs(self, practical_id: str | None = None) -> list[PracticalRunRow]:
        query = select(PracticalRunRow).order_by(PracticalRunRow.created_at, PracticalRunRow.id)
        if practical_id is not None:
            query = query.where(PracticalRunRow.practical_id == practical_id)
        with self.session() as db:
            return list(db.scalars(query))

    # -- study sessions ---------------------------------------------------------------------

    def create_session(
        self,
        mode: str,
        *,
        settings: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        time_limit_s: int | None = None,
        started_at: datetime | None = None,
    ) -> int:
        if mode not in SESSION_MODES:
            raise ValueError(f"session mode must be one of {SESSION_MODES}, not {mode!r}")
        start = started_at or utcnow()

        def create(db: Session) -> int:
            row = StudySessionRow(
                mode=mode,
                settings=settings or {},
                state=state or {},
                time_limit_s=time_limit_s,
                started_at=start,
                updated_at=start,
            )
            db.add(row)
            db.flush()
            return row.id

        return self.write(create)

    def update_session(
        self,
        session_id: int,
        *,
        state: dict[str, Any] | None = None,
        elapsed_s: float | None = None,
        now: datetime | None = None,
    ) -> None:
        """Save a session's state and/or elapsed time (and stamp ``updated_at``)."""
        self.write(
            lambda db: ops.save_session_progress(
                db, session_id, state=state, elapsed_s=elapsed_s, now=now
            )
        )

    def finish_session(
        self,
        session_id: int,
        *,
        status: str = "finished",
        state: dict[str, Any] | None = None,
        elapsed_s: float | None = None,
        now: datetime | None = None,
    ) -> None:
        if status not in SESSION_STATUSES[1:]:
            raise ValueError(f"a session ends as one of {SESSION_STATUSES[1:]}, not {status!r}")
        end = now or utcnow()

        def finish(db: Session) -> None:
            row = ops.save_session_progress(
                db, session_id, state=state, elapsed_s=elapsed_s, now=end
            )
            row.status, row.finished_at = status, end

        self.write(finish)

    def get_session(self, session_id: int) -> StudySessionRow:
        with self.session() as db:
            return ops.session_row(db, session_id)

    def list_sessions(
        self, *, mode: str | None = None, status: str | None = None
    ) -> list[StudySessionRow]:
        """Sessions, newest first."""
        query = select(StudySessionRow).order_by(
            StudySessionRow.started_at.desc(), StudySessionRow.id.desc()
        )
        if mode is not None:
            query = query.where(StudySessionRow.mode == mode)
        if status is not None:
            query = query.where(StudySessionRow.status == status)
        with self.session() as db:
            return list(db.scalars(query))

    # -- the browser's flags ----------------------------------------------------------------

    def question_flags(self) -> dict[str, tuple[bool, bool]]:
        """(flagged, suspended) by question id, for questions with either mark ever set."""
        with self.session() as db:
            return {
                qid: (row.flagged, row.suspended) for qid, row in ops.question_flags(db).items()
            }

    def suspended_questions(self) -> set[str]:
        """Questions taken out of the review queue."""
        return {qid for qid, (_, suspended) in self.question_flags().items() if suspended}

    def set_question_flag(
        self, question_id: str, *, flagged: bool | None = None, suspended: bool | None = None
    ) -> None:
        self.write(
            lambda db: ops.set_question_flag(db, question_id, flagged=flagged, suspended=suspended)
        )

    # -- settings ---------------------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self.session() as db:
            return ops.get_setting(db, key, default)

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` (None deletes it)."""
        self.write(lambda db: ops.set_setting(db, key, value))

    def close(self) -> None:
        self.engine.dispose()


def _question_fields(question: Question, digest: str) -> dict[str, Any]:
    return {
        "content_hash": digest,
        "phase": question.phase,
        "level": question.level,
        "topic": question.topic,
        "kind": question.kind,
        "title": question.title,
        "body": question.model_dump(mode="json"),
        "retired": False,
    }
