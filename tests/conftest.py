"""Test-wide isolation: no test ever touches the user's real data directory or database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from quiz.config import DB_ENV, HOME_ENV


@pytest.fixture(autouse=True, scope="session")
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("latency-quiz-home")
    saved = {key: os.environ.get(key) for key in (HOME_ENV, DB_ENV)}
    os.environ[HOME_ENV] = str(home)
    os.environ.pop(DB_ENV, None)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database for one test."""
    return f"sqlite:///{tmp_path / 'quiz.db'}"
