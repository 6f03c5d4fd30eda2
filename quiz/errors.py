"""Errors that reach a person: each carries one clear line and the exit code the CLI uses."""

from __future__ import annotations


class QuizError(Exception):
    """A problem the user can act on. ``str(err)`` is the one line shown to them."""

    exit_code = 1


class UsageError(QuizError):
    """The command line itself is wrong (exit 2)."""

    exit_code = 2


class NotFoundError(QuizError):
    """An unknown question or practical id."""


class AnswerFormatError(QuizError):
    """An answer that cannot be read for its question's kind ("Z" for a 4-option choice, "abc" for a number)."""


class StoreError(QuizError):
    """The database cannot be opened, migrated, or is not a database at all."""


class LabError(QuizError):
    """The practicals lab itself could not run (exit 3); a failing submission is not a LabError."""

    exit_code = 3
