"""A PostgreSQL server for the tests: the one ``LATENCY_QUIZ_TEST_PG_URL`` names (CI starts it
with ``.ci/postgres``), else a throwaway one this test run starts with the same script. Each
test gets its own schema (``search_path``), dropped afterwards."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

URL_ENV = "LATENCY_QUIZ_TEST_PG_URL"
SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "postgres"
_schema_numbers = itertools.count()


class NoServer(Exception):
    """No PostgreSQL server could be found or started (the message says why)."""


@contextmanager
def running_server() -> Iterator[str]:
    """The server's SQLAlchemy URL while the block runs."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise NoServer("psycopg is not installed (pip install -e '.[postgres]')") from None
    folder = Path(tempfile.mkdtemp(prefix="latency-quiz-pg-"))
    folder.chmod(0o755)
    started = subprocess.run(
        [str(SCRIPT), "start", str(folder)], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        why = (started.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise NoServer(f"no {URL_ENV} and .ci/postgres could not start one: {why}")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([str(SCRIPT), "stop", str(folder)], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def fresh_schema(server_url: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema; the schema is dropped after."""
    import psycopg

    name = f"test_{os.getpid()}_{next(_schema_numbers)}"
    url = make_url(server_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE")
