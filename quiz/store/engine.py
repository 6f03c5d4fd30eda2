"""Opening a database: refuse files that are not ours (without touching them), set SQLite's
pragmas on every connection, and bring the schema to the latest migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from quiz.errors import StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000
BEGIN_ATTEMPTS = 6  # x the busy timeout: how long a SQLite writer waits for its turn
MIGRATION_LOCK_KEY = 0x6C71_7569  # any fixed number: PostgreSQL's advisory lock for migrating


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as err:
        raise StoreError(f"cannot open database at {url}: not a database URL ({err})") from None


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for other backends and in-memory databases."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def refuse_foreign_file(path: Path, shown: str) -> None:
    """Raise StoreError if ``path`` exists but is not a latency-quiz database. Reads only."""
    if not path.exists() or path.is_dir():
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except OSError as err:
        raise StoreError(f"cannot open database at {shown}: {err.strerror}") from None
    if not header:
        return  # an empty file is an empty SQLite database
    if header != SQLITE_MAGIC:
        raise StoreError(
            f"{shown} is not a latency-quiz database (file is not a database); "
            "it was left untouched"
        )
    tables = _table_names_read_only(path, shown)
    if tables and "alembic_version" not in tables:
        listed = ", ".join(sorted(tables)[:5])
        raise StoreError(
            f"{shown} is not a latency-quiz database (it holds other tables: {listed}); "
            "it was left untouched"
        )


def _table_names_read_only(path: Path, shown: str) -> set[str]:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError as err:
        raise StoreError(f"cannot open database at {shown}: {err}") from None
    except sqlite3.DatabaseError as err:  # not a database, or a damaged one
        raise StoreError(
            f"{shown} is not a latency-quiz database ({err}); it was left untouched"
        ) from None
    return {name for (name,) in rows}


def make_engine(url: URL, *, foreign_keys: bool = True, pooled: bool = True) -> Engine:
    """An engine whose SQLite connections use WAL, a busy timeout and (optionally) foreign keys."""
    try:
        engine = create_engine(url, **({} if pooled else {"poolclass": NullPool}))
    except (ArgumentError, NoSuchModuleError, ImportError) as err:
        raise StoreError(f"cannot open database at {shown_url(url)}: {err}") from None
    if url.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _set_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # the driver leaves transactions to us (below)
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if sqlite_file(url) is not None:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            cursor.close()

        event.listen(engine, "begin", begin_immediate)
    return engine


def begin_immediate(conn: Connection) -> None:
    """Start every SQLite transaction with the write lock (BEGIN IMMEDIATE): a writer waits for
    it here, up to the busy timeout, instead of failing with "database is locked" halfway
    through its work; when even that wait runs out, nothing has been done yet, so try again."""
    for attempt in range(1, BEGIN_ATTEMPTS + 1):
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as err:
            if attempt == BEGIN_ATTEMPTS or "locked" not in str(err.orig):
                raise


def upgrade_to_head(url: URL, default_user: str) -> None:
    """Apply every pending migration. SQLite batch migrations copy tables, so foreign keys are
    off on this one short-lived connection; its transaction takes the write lock first, so two
    processes opening a new database at once migrate it one after the other (on PostgreSQL an
    advisory lock does the same). Rows from before users existed go to ``default_user``."""
    engine = make_engine(url, foreign_keys=False, pooled=False)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["default_user"] = default_user
    try:
        with engine.begin() as connection:
            if url.get_backend_name() == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except CommandError as err:
        raise StoreError(
            f"cannot migrate database at {shown_url(url)}: {err} "
            "(was it written by a newer latency-quiz?)"
        ) from None
    except SQLAlchemyError as err:
        raise StoreError(f"cannot open database at {shown_url(url)}: {_reason(err)}") from None
    finally:
        engine.dispose()


def shown_url(url: URL) -> str:
    path = sqlite_file(url)
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def _reason(err: SQLAlchemyError) -> str:
    original = getattr(err, "orig", None)
    return str(original if original is not None else err).splitlines()[0]
