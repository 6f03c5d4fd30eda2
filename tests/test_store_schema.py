"""Opening the database: migrations, pragmas, and files that are not ours."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from quiz.errors import StoreError
from quiz.store import open_store
from quiz.store.engine import MIGRATIONS_DIR
from quiz.store.models import Base

TABLES = {
    "questions",
    "attempts",
    "study_sessions",
    "review_cards",
    "review_logs",
    "practical_runs",
    "settings",
    "question_flags",
    "users",
}


def test_upgrade_on_an_empty_database_creates_every_table(db_url: str) -> None:
    store = open_store(db_url)
    try:
        names = set(inspect(store.engine).get_table_names())
        assert names >= TABLES | {"alembic_version"}
    finally:
        store.close()


def test_models_and_migrations_agree(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.close()


def test_migration_scripts_live_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("*.py"))
    assert MIGRATIONS_DIR.parent.name == "store" and MIGRATIONS_DIR.parents[1].name == "quiz"


def test_sqlite_pragmas_are_set_on_every_connection(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'quiz.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        store.close()


def test_reopening_is_idempotent(db_url: str) -> None:
    open_store(db_url).close()
    store = open_store(db_url)
    store.set_setting("k", {"v": 1})
    store.close()
    assert open_store(db_url).get_setting("k") == {"v": 1}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_that_is_not_a_database_is_reported_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    before = digest(path)
    with pytest.raises(StoreError) as err:
        open_store(f"sqlite:///{path}")
    message = str(err.value)
    assert message == (
        f"{path} is not a latency-quiz database (file is not a database); it was left untouched"
    )
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_someone_elses_sqlite_database_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="not a latency-quiz database.*recipes.*left untouched"):
        open_store(f"sqlite:///{path}")
    assert digest(path) == before


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir" / "quiz.db"
    with pytest.raises(StoreError) as err:
        open_store(f"sqlite:///{missing_dir}")
    assert str(err.value).startswith(f"cannot open database at {missing_dir}: ")
    assert "\n" not in str(err.value)


def test_an_unknown_backend_is_one_clear_line() -> None:
    with pytest.raises(StoreError, match="^cannot open database at nosuchdb://x"):
        open_store("nosuchdb://x")
