"""Export and import of a user's history as one JSON file.

The file holds attempts, review cards and logs, study sessions, practical runs and settings,
plus the questions they refer to. Rows carry the uids they have in the database, so importing
the same file twice adds nothing the second time; a review card already present is replaced
only by a more recently updated one, a setting already present is kept. The whole file is
checked before anything is written and the import is one transaction: a malformed file
changes nothing and the error says why in one line. The file names its user; an import gives
the rows back to that user (a file from before users existed goes to whoever imports it).

The file also carries the practical workspaces (the user's code: every folder under the
workspace directory that holds a ``.practical.json`` marker, its text files up to
MAX_WORKSPACE_FILE_BYTES each). An import writes the files that are missing and keeps every
file already there, so it never overwrites work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from quiz import config
from quiz.errors import QuizError
from quiz.store import (
    AttemptRow,
    PracticalRunRow,
    QuestionRow,
    ReviewCardRow,
    ReviewLogRow,
    Store,
    StudySessionRow,
    ops,
)
from quiz.study.cards import card_from_dict

FORMAT: Literal["latency-quiz-export"] = "latency-quiz-export"
VERSION: Literal[1] = 1
WORKSPACE_MARKER = ".practical.json"
MAX_WORKSPACE_FILE_BYTES = 1_000_000


class TransferError(QuizError):
    """An export file that cannot be imported (nothing was changed)."""


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuestionOut(_Row):
    id: str
    version: int
    content_hash: str
    phase: str
    level: str
    topic: str
    kind: str
    title: str
    body: dict[str, Any]
    retired: bool


class SessionOut(_Row):
    uid: str
    mode: Literal["practice", "mock", "review"]
    settings: dict[str, Any]
    state: dict[str, Any]
    status: Literal["active", "finished", "abandoned"]
    started_at: AwareDatetime
    updated_at: AwareDatetime
    finished_at: AwareDatetime | None
    time_limit_s: int | None
    elapsed_s: float


class AttemptOut(_Row):
    uid: str
    question_id: str
    question_version: int
    seed: int
    answer: str
    score: float
    correct: bool
    duration_s: float | None
    mode: Literal["practice", "mock", "review", "cli", "practical"]
    session_uid: str | None = None
    rating: int | None
    created_at: AwareDatetime


class CardOut(_Row):
    question_id: str
    card: dict[str, Any]
    due: AwareDatetime
    updated_at: AwareDatetime

    @field_validator("card")
    @classmethod
    def _fsrs_card(cls, card: dict[str, Any]) -> dict[str, Any]:
        try:
            card_from_dict(card)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"not an FSRS card ({err})") from None
        return card


class ReviewLogOut(_Row):
    uid: str
    question_id: str
    rating: int
    review_log: dict[str, Any]
    reviewed_at: AwareDatetime


class PracticalRunOut(_Row):
    uid: str
    practical_id: str
    source: Literal["workspace", "reference", "starter", "path"]
    passed: bool
    score: float
    duration_s: float | None
    result: dict[str, Any]
    device: dict[str, Any]
    created_at: AwareDatetime


class ExportFile(_Row):
    format: Literal["latency-quiz-export"]
    version: Literal[1]
    exported_at: AwareDatetime
    user: str | None = None  # whose rows these are; an import gives them back to that user
    questions: list[QuestionOut]
    sessions: list[SessionOut]
    attempts: list[AttemptOut]
    review_cards: list[CardOut]
    review_logs: list[ReviewLogOut]
    practical_runs: list[PracticalRunOut]
    settings: dict[str, Any]
    # workspace folder (relative to the workspace directory) -> {relative file path: text}
    workspaces: dict[str, dict[str, str]] = {}

    @field_validator("workspaces")
    @classmethod
    def _relative_paths(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for folder, files in value.items():
            for name in (folder, *files):
                parts = Path(name).parts
                if not parts or Path(name).is_absolute() or ".." in parts:
                    raise ValueError(f"workspace path {name!r} must stay inside its folder")
        return value


@dataclass(frozen=True)
class ImportReport:
    """Rows added per kind (rows already present are skipped)."""

    questions: int
    sessions: int
    attempts: int
    review_cards: int
    review_logs: int
    practical_runs: int
    settings: int
    workspace_files: int = 0


def workspace_files(root: Path) -> dict[str, dict[str, str]]:
    """The text files of every workspace under ``root`` (see the module docstring)."""
    out: dict[str, dict[str, str]] = {}
    if not root.is_dir():
        return out
    for marker in sorted(root.rglob(WORKSPACE_MARKER)):
        folder = marker.parent
        files = {}
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            hidden = any(part.startswith(".") for part in relative.parts[:-1])
            if hidden or "__pycache__" in relative.parts or not path.is_file():
                continue
            if path.stat().st_size > MAX_WORKSPACE_FILE_BYTES:
                continue
            try:
                files[relative.as_posix()] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # not a text file the user wrote
        out[folder.relative_to(root).as_posix()] = files
    return out


def restore_workspaces(root: Path, workspaces: dict[str, dict[str, str]]) -> int:
    """Write the files that are missing under ``root``; returns how many were written."""
    written = 0
    for folder, files in workspaces.items():
        for name, text in files.items():
            path = root / folder / name
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written += 1
    return written


def export_data(
    store: Store, now: datetime | None = None, *, workspaces: Path | None = None
) -> dict[str, Any]:
    """Everything the user did, as JSON-ready data, with the practical workspaces under
    ``workspaces`` (default: quiz.config's workspace directory)."""
    with store.session() as db:
        sessions = list(db.scalars(select(StudySessionRow).order_by(StudySessionRow.id)))
        uid_of = {s.id: s.uid for s in sessions}
        attempts = list(db.scalars(select(AttemptRow).order_by(AttemptRow.id)))
        cards = list(db.scalars(select(ReviewCardRow).order_by(ReviewCardRow.question_id)))
        logs = list(db.scalars(select(ReviewLogRow).order_by(ReviewLogRow.id)))
        runs = list(db.scalars(select(PracticalRunRow).order_by(PracticalRunRow.id)))
        used = {a.question_id for a in attempts} | {c.question_id for c in cards}
        used |= {log.question_id for log in logs}
        questions = [q for q in db.scalars(select(QuestionRow)) if q.id in used]
        settings = {key: ops.get_setting(db, key) for key in ops.setting_keys(db)}
        data = ExportFile(
            format=FORMAT,
            version=VERSION,
            exported_at=now or datetime.now(timezone.utc),
            user=store.user,
            questions=[QuestionOut.model_validate(q, from_attributes=True) for q in questions],
            sessions=[SessionOut.model_validate(s, from_attributes=True) for s in sessions],
            attempts=[
                AttemptOut.model_validate(a, from_attributes=True).model_copy(
                    update={"session_uid": uid_of.get(a.session_id or -1)}
                )
                for a in attempts
            ],
            review_cards=[CardOut.model_validate(c, from_attributes=True) for c in cards],
            review_logs=[ReviewLogOut.model_validate(x, from_attributes=True) for x in logs],
            practical_runs=[PracticalRunOut.model_validate(r, from_attributes=True) for r in runs],
            settings=settings,
            workspaces=workspace_files(workspaces or config.workspace_dir()),
        )
    return data.model_dump(mode="json")


def export_file(store: Store, path: Path) -> tuple[int, int]:
    """Write the export to ``path``; returns how many attempts and workspaces it holds."""
    data = export_data(store)
    try:
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    except OSError as err:
        raise TransferError(f"cannot write {path}: {err.strerror}") from None
    return len(data["attempts"]), len(data["workspaces"])


def import_file(store: Store, path: Path) -> ImportReport:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TransferError(f"cannot read {path}: {getattr(err, 'strerror', err)}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise TransferError(
            f"{path}: not valid JSON (line {err.lineno}: {err.msg}); nothing was imported"
        ) from None
    return import_data(store, raw, shown=str(path))


def import_data(
    store: Store, raw: Any, *, shown: str = "the import", workspaces: Path | None = None
) -> ImportReport:
    """Add the export's rows that are not in the database yet, then its workspace files that
    are missing under ``workspaces`` (default: quiz.config's) (see the module docstring)."""
    try:
        data = ExportFile.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise TransferError(
            f"{shown}: not a latency-quiz export ({where}: {first['msg']}); nothing was imported"
        ) from None
    owner = store.as_user(data.user) if data.user else store
    with owner.session() as db:
        _check_references(db, data, shown)
        report = _merge(db, data)
    root = workspaces or config.workspace_dir()
    try:
        written = restore_workspaces(root, data.workspaces)
    except OSError as err:
        raise TransferError(
            f"{shown}: the history was imported but a workspace file could not be written "
            f"under {root}: {err.strerror}"
        ) from None
    return replace(report, workspace_files=written)


def _check_references(db: Session, data: ExportFile, shown: str) -> None:
    for kind, uids in (
        ("a session", [s.uid for s in data.sessions]),
        ("an attempt", [a.uid for a in data.attempts]),
        ("a review log", [x.uid for x in data.review_logs]),
        ("a practical run", [r.uid for r in data.practical_runs]),
    ):
        if len(set(uids)) != len(uids):
            raise TransferError(f"{shown}: {kind} uid appears twice; nothing was imported")
    questions = {q.id for q in data.questions} | set(db.scalars(select(QuestionRow.id)))
    sessions = {s.uid for s in data.sessions}
    for kind, rows in (
        ("an attempt", data.attempts),
        ("a review card", data.review_cards),
        ("a review log", data.review_logs),
    ):
        for row in rows:
            if row.question_id not in questions:
                raise TransferError(
                    f"{shown}: {kind} refers to question {row.question_id!r}, which is "
                    "neither in the file nor in the database; nothing was imported"
                )
    for attempt in data.attempts:
        if attempt.session_uid is not None and attempt.session_uid not in sessions:
            raise TransferError(
                f"{shown}: attempt {attempt.uid} refers to session {attempt.session_uid}, "
                "which is not in the file; nothing was imported"
            )


def _merge(db: Session, data: ExportFile) -> ImportReport:
    known_questions = set(db.scalars(select(QuestionRow.id)))
    new_questions = [q for q in data.questions if q.id not in known_questions]
    db.add_all(QuestionRow(**q.model_dump()) for q in new_questions)

    session_ids = {
        uid: id_ for uid, id_ in db.execute(select(StudySessionRow.uid, StudySessionRow.id))
    }
    new_sessions = [
        StudySessionRow(**s.model_dump()) for s in data.sessions if s.uid not in session_ids
    ]
    db.add_all(new_sessions)
    db.flush()
    session_ids |= {s.uid: s.id for s in new_sessions}

    have = set(db.scalars(select(AttemptRow.uid)))
    new_attempts = [a for a in data.attempts if a.uid not in have]
    db.add_all(
        AttemptRow(
            **a.model_dump(exclude={"session_uid"}),
            session_id=session_ids[a.session_uid] if a.session_uid else None,
        )
        for a in new_attempts
    )

    have = set(db.scalars(select(ReviewLogRow.uid)))
    new_logs = [x for x in data.review_logs if x.uid not in have]
    db.add_all(ReviewLogRow(**x.model_dump()) for x in new_logs)

    cards = 0
    for card in data.review_cards:
        current = ops.get_card(db, card.question_id)
        if current is None or current.updated_at < card.updated_at:
            ops.put_card(db, card.question_id, card.card, card.due, card.updated_at)
            cards += 1

    have = set(db.scalars(select(PracticalRunRow.uid)))
    new_runs = [r for r in data.practical_runs if r.uid not in have]
    db.add_all(PracticalRunRow(**r.model_dump()) for r in new_runs)

    existing = set(ops.setting_keys(db))
    new_settings = {k: v for k, v in data.settings.items() if k not in existing}
    for key, value in new_settings.items():
        ops.set_setting(db, key, value)
    return ImportReport(
        questions=len(new_questions),
        sessions=len(new_sessions),
        attempts=len(new_attempts),
        review_cards=cards,
        review_logs=len(new_logs),
        practical_runs=len(new_runs),
        settings=len(new_settings),
    )
