"""The one place that knows where data lives: the data directory, the database URL,
the shipped question bank, the practicals and the facts file.

Overrides, strongest first: an explicit argument (the CLI's ``--db``), the environment
(``LATENCY_QUIZ_DB`` for the database URL, ``LATENCY_QUIZ_HOME`` for the data directory),
then the platform's user data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "latency-quiz"
DB_ENV = "LATENCY_QUIZ_DB"
HOME_ENV = "LATENCY_QUIZ_HOME"

_PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = _PACKAGE_DIR.parent


def data_dir() -> Path:
    """The user's data directory (created on first use)."""
    override = os.environ.get(HOME_ENV)
    path = (
        Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(explicit: str | None = None) -> str:
    """The SQLAlchemy URL of the user's database."""
    if explicit:
        return explicit
    from_env = os.environ.get(DB_ENV)
    if from_env:
        return from_env
    return f"sqlite:///{data_dir() / 'latency-quiz.db'}"


def _shipped(name: str) -> Path:
    """A data folder shipped in the wheel (quiz/_data/NAME) or, from a source tree, ./NAME."""
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    return _SOURCE_ROOT / name


def bank_dir() -> Path:
    """The folder holding the shipped question bank (questions/*.yaml)."""
    return _shipped("questions")


def practicals_dir() -> Path:
    """The folder holding the shipped practicals (one sub-folder per practical)."""
    return _shipped("practicals")


def facts_path() -> Path:
    """The verified hardware / model facts file that graders and models read."""
    return _PACKAGE_DIR / "facts" / "inference-facts.yaml"


def workspace_dir() -> Path:
    """Default parent folder of practical workspaces."""
    path = data_dir() / "workspaces"
    path.mkdir(parents=True, exist_ok=True)
    return path
