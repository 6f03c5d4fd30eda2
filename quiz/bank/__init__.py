"""The question bank: YAML files -> validated questions -> seeded instances.

See docs/question-format.md for the file format.
"""

from quiz.bank.bank import Bank
from quiz.bank.loader import load_bank, question_files, validate_paths
from quiz.bank.problems import BankError, Problem
from quiz.bank.schema import KINDS, LEVELS, PHASES, TOPICS, Question
from quiz.bank.variants import Choice, Instance, NumericKey, Rubric, instantiate

__all__ = [
    "KINDS",
    "LEVELS",
    "PHASES",
    "TOPICS",
    "Bank",
    "BankError",
    "Choice",
    "Instance",
    "NumericKey",
    "Problem",
    "Question",
    "Rubric",
    "instantiate",
    "load_bank",
    "question_files",
    "validate_paths",
]
