"""profile-hotspot: the reference passes, the starter and every control fail, and so does a
submission that reads the grader's profile from its caller's frames; graded through the real
runner, referee and contestants (each grade draws new secret inputs). A failing grade names
neither the top stage nor its measured share. The fast tests check the share arithmetic."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import cast

import pytest

from quiz.lab.catalog import get_practical
from quiz.lab.runner import LabResult, grade_practical
from tests.lab_fixtures import failed_checks, failed_names, practical_module, shipped_files

PRACTICAL = "profile-hotspot"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]
STAGES = ("preprocess", "embed", "encoder", "head", "postprocess")

READS_THE_CALLERS_FRAME = """
import sys


def find_hotspot(pipeline, batches):
    frame = sys._getframe(1)
    while frame is not None:  # the grader's truth, in a caller's frame?
        truth = frame.f_locals.get("truth")
        if isinstance(truth, dict) and truth:
            top = max(truth, key=truth.get)
            return top, truth[top]
        frame = frame.f_back
    return "encoder", 50.0
"""


@pytest.fixture
def grader(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """grader.py, importing this practical's baseline.py (not another practical's)."""
    monkeypatch.delitem(sys.modules, "baseline", raising=False)
    return practical_module(PRACTICAL, "grader.py")


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def test_stage_shares_leave_out_disturbed_steps(grader: ModuleType) -> None:
    steady = {"pipeline.step": 100.0, "preprocess": 10, "embed": 60, "encoder": 20, "head": 5}
    steady |= {"postprocess": 5}
    disturbed = dict(steady, **{"pipeline.step": 400.0, "preprocess": 310})
    shares = grader.stage_shares([steady, steady, steady, disturbed])
    assert shares["embed"] == pytest.approx(60.0)
    assert shares["preprocess"] == pytest.approx(10.0)


def _assert_no_answer_in(result: LabResult) -> None:
    """Neither the top stage (unless the user named it) nor its share leaks from a failure."""
    assert "answer" not in result.details and "headline" not in result.details
    claimed = result.details.get("your_answer", {}).get("stage")
    for check in result.checks:
        for stage in STAGES:
            if stage != claimed:
                assert stage not in str(check.threshold), check
                assert f"{stage} takes" not in check.message, check
        # no measured share at all: regrading a fixed variant stage by stage would collect them
        assert not re.search(r"(takes|measured) \d", check.message), check


@pytest.mark.slow
def test_reference_passes() -> None:
    result = grade_practical(PRACTICAL, FILES["reference"], source="reference")
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60
    assert result.details["answer"], "a pass shows the grader's profile"


@pytest.mark.slow
@pytest.mark.parametrize("name", FAILING)
def test_starter_and_controls_fail(name: str) -> None:
    result = grade_practical(PRACTICAL, FILES[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
    _assert_no_answer_in(result)


@pytest.mark.slow
def test_reading_the_callers_frame_finds_nothing(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(READS_THE_CALLERS_FRAME, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    # The frames held nothing, so it fell back to its guess: wrong for variant 0 (a workspace
    # without .practical.json), whose hotspot is the Python loop in preprocessing.
    assert result.details["your_answer"] == {"stage": "encoder", "share_pct": 50.0}
    assert not result.passed, failed_checks(result)
    assert "dominant stage" in failed_names(result)
    _assert_no_answer_in(result)


def test_no_message_gives_a_measured_share(grader: ModuleType) -> None:
    """A workspace's variant is the same in every grade: a share told in any message (even one
    of a passing check in a failing grade) could be collected stage by stage until the hotspot
    is known by elimination. The profile is revealed only after a pass."""
    from quiz.lab.api import GradeContext, share_check

    truth = {"preprocess": 71.3, "embed": 12.4, "encoder": 9.1, "head": 4.2, "postprocess": 3.0}
    ctx = SimpleNamespace(thresholds={"stage_tie_pts": 5.0, "share_tolerance_pts": 10.0})
    messages = [grader._stage_check(ctx, stage, truth).message for stage in truth]
    slack = dict.fromkeys(truth, 0.0)
    context = cast(GradeContext, ctx)
    for stage, share in truth.items():
        for claimed in (share - 4.0, share + 30.0):
            messages.append(
                share_check(context, "share of step time", stage, claimed, truth, slack).message
            )
    for message in messages:
        for share in truth.values():
            assert not re.search(rf"(?<![\d.]){share:.1f}(?!\d)", message), message
        assert "points off" not in message, message
