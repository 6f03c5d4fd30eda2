"""batch-sla: the reference passes three times in a row (the same verdict on repeated grades,
each with a new secret SLA), the starter and every control fail; graded through the real
runner and worker."""

from __future__ import annotations

import pytest

from quiz.lab.catalog import get_practical
from quiz.lab.runner import grade_practical
from tests.lab_fixtures import failed_checks, shipped_files

PRACTICAL = "batch-sla"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


@pytest.mark.slow
def test_reference_passes_every_time() -> None:
    for _ in range(3):
        result = grade_practical(PRACTICAL, FILES["reference"], source="reference")
        assert result.passed, failed_checks(result)
        assert result.duration_s < 60


@pytest.mark.slow
@pytest.mark.parametrize("name", FAILING)
def test_starter_and_controls_fail(name: str) -> None:
    result = grade_practical(PRACTICAL, FILES[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
