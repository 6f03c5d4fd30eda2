"""The reference tests' one rerun (tests.lab_fixtures.graded_with_the_rerun_asked_for) is
asked for only by a grade that failed on inconclusive timings alone."""

from __future__ import annotations

import pytest

from quiz.lab.api import Check
from quiz.lab.runner import LabResult
from tests.lab_fixtures import graded_with_the_rerun_asked_for

UNDECIDED = Check("speed-up", False, 1.9, 2.0, "x", "inconclusive: rerun", inconclusive=True)
MISSED = Check("speed-up", False, 1.2, 2.0, "x", "too slow")
UNGRADABLE = Check("speed-up", False, None, 2.0, "x", "not gradable on this CPU", True)
PASSED = Check("exact", True)


def result(*checks: Check, error: str | None = None) -> LabResult:
    passed = error is None and all(check.passed for check in checks)
    return LabResult("toy", passed, 1.0 if passed else 0.0, 1.0, {}, list(checks), error=error)


@pytest.mark.parametrize(
    ("first", "grades"),
    [
        (result(PASSED), 1),
        (result(PASSED, UNDECIDED), 2),
        (result(MISSED, UNDECIDED), 1),
        (result(PASSED, UNGRADABLE), 1),
        (result(UNDECIDED, error="crashed"), 1),
    ],
)
def test_only_an_inconclusive_grade_is_graded_again(first: LabResult, grades: int) -> None:
    second = result(PASSED)
    given = iter([first, second])
    calls = []

    def grade() -> LabResult:
        calls.append(1)
        return next(given)

    assert graded_with_the_rerun_asked_for(grade) is (second if grades == 2 else first)
    assert len(calls) == grades
