"""The one place that knows where data lives and whose it is: the data directory, the database
URL, the user, the shipped question bank, the practicals and the facts file.

Overrides, strongest first: an explicit argument (the CLI's ``--db`` and ``--user``), the
environment (``LATENCY_QUIZ_DB`` for the database URL, ``LATENCY_QUIZ_HOME`` for the data
directory, ``LATENCY_QUIZ_USER`` for the user), then the platform's user data directory and
the operating-system login.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path

import platformdirs

from quiz.errors import UsageError

APP_NAME = "latency-quiz"
DB_ENV = "LATENCY_QUIZ_DB"
HOME_ENV = "LATENCY_QUIZ_HOME"
USER_ENV = "LATENCY_QUIZ_USER"
JUDGE_ENV = "LATENCY_QUIZ_JUDGE"  # an OpenAI-compatible server that judges short answers
JUDGE_MODEL_ENV = "LATENCY_QUIZ_JUDGE_MODEL"
FALLBACK_USER = "default"
USER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")

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


def user_name(explicit: str | None = None) -> str:
    """Whose attempts, cards, mocks, practical runs, plan and settings these are: ``--user``,
    then ``LATENCY_QUIZ_USER``, then the operating-system login (``default`` if it has none).
    Raises UsageError for a name that is not 1-64 letters, digits and ``._@+-``."""
    name = explicit if explicit is not None else (os.environ.get(USER_ENV) or os_login())
    return check_user_name(name)


def os_login() -> str:
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return FALLBACK_USER
    return login if USER_NAME_PATTERN.fullmatch(login) else FALLBACK_USER


def check_user_name(name: str) -> str:
    if not USER_NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"user name {name!r} is not valid: use 1-64 letters, digits and . _ @ + - "
            "(starting with a letter or digit)"
        )
    return name


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
