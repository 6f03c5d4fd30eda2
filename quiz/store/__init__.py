"""The database: SQLAlchemy 2.0 ORM + alembic migrations; the only package that touches it.

API (signatures other packages rely on)::

    open_store(url: str | None = None) -> Store     # url default: quiz.config.database_url()
        # creates/migrates; StoreError (one line) if unreachable, unwritable or not our file
        # (a file that is not a latency-quiz database is never modified)
    Store.session() -> ContextManager[Session]      # one transaction (Session.begin())
    Store.sync_bank(bank) -> SyncReport(added, updated, unchanged, retired)
    Store.questions(*, include_retired=False) -> list[QuestionRow]
    Store.record_attempt(*, question_id, seed, answer, score, correct, duration_s, mode,
                         session_id=None, rating=None, created_at=None) -> int
    Store.attempts(*, question_id=None, session_id=None, mode=None, since=None)
        -> list[AttemptRow]                            # oldest first
    Store.record_practical_run(practical_id, result: dict, source, *, created_at=None) -> int
        # reads result["passed"], ["score"], ["duration_s"], ["device"]
    Store.practical_runs(practical_id=None) -> list[PracticalRunRow]
    Store.create_session(mode, *, settings=None, state=None, time_limit_s=None,
                         started_at=None) -> int
    Store.update_session(session_id, *, state=None, elapsed_s=None, now=None)
    Store.finish_session(session_id, *, status="finished", state=None, elapsed_s=None, now=None)
    Store.get_session(session_id) -> StudySessionRow     # NotFoundError if unknown
    Store.list_sessions(*, mode=None, status=None) -> list[StudySessionRow]   # newest first
    Store.get_setting(key, default=None) / Store.set_setting(key, value)   # JSON values
    Store.close()

Every method commits before returning. ``quiz.store.ops`` has the same operations on an open
ORM session, for callers that must group several writes in one transaction.
Modes: attempts practice|mock|review|cli|practical; sessions practice|mock|review with status
active|finished|abandoned; practical run sources workspace|reference|starter|path.
"""

from quiz.store.models import (
    AttemptRow,
    PracticalRunRow,
    QuestionRow,
    ReviewCardRow,
    ReviewLogRow,
    SettingRow,
    StudySessionRow,
)
from quiz.store.store import Store, SyncReport, open_store

__all__ = [
    "AttemptRow",
    "PracticalRunRow",
    "QuestionRow",
    "ReviewCardRow",
    "ReviewLogRow",
    "SettingRow",
    "Store",
    "StudySessionRow",
    "SyncReport",
    "open_store",
]
