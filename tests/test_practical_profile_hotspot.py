"""profile-hotspot: the reference passes, the starter and every control fail, and so does a
submission that reads the grader's profile from its caller's frames; graded through the real
runner, referee and contestants (each grade draws a new variant and new inputs from its secret
seed). A failing grade names neither the top stage nor its measured share. Each bug's share
spans too wide a range for a share predicted from the bug's kind (readable on the pipeline
object) to pass. The fast tests check the share arithmetic and the variants drawn."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import cast

import pytest

from quiz.lab.api import Check
from quiz.lab.catalog import get_practical
from quiz.lab.runner import LabResult, grade_practical
from quiz.lab.workspace import start_workspace
from tests.lab_fixtures import (
    failed_checks,
    failed_names,
    graded_reference,
    practical_module,
    run_workspace_script,
    shipped_files,
)

PRACTICAL = "profile-hotspot"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]
STAGES = ("preprocess", "embed", "encoder", "head", "postprocess")

READS_THE_CALLERS_FRAME = """
import sys
from collections import Counter


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
    claimed = {answer["stage"] for answer in result.details.get("your_answer", [])}
    for check in result.checks:
        for stage in STAGES:
            if stage not in claimed:
                assert stage not in str(check.threshold), check
                assert f"{stage} takes" not in check.message, check
        # no measured share at all: regrading a fixed variant stage by stage would collect them
        assert not re.search(r"(takes|measured) \d", check.message), check


@pytest.mark.slow
def test_reference_passes() -> None:
    result = graded_reference(PRACTICAL)
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60
    profiles = result.details["answer"][0::2]
    variants = result.details["answer"][1::2]
    assert [line.split(":")[0] for line in profiles] == ["pipeline 1", "pipeline 2"]
    assert all("the grader's profile" in line for line in profiles), "a pass shows the profiles"
    assert all(": its variant: " in line for line in variants), "and the variants it drew"
    stages = [answer["stage"] for answer in result.details["your_answer"]]
    assert len(stages) == 2 and stages[0] != stages[1]


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
    # The frames held nothing, so it fell back to its guess: wrong for every variant (the
    # encoder is the top stage only when its bug is planted there, and then above 60 %).
    assert result.details["your_answer"] == [{"pipeline": 1, "stage": "encoder", "share_pct": 50.0}]
    assert not result.passed, failed_checks(result)
    names = {"pipeline 1: dominant stage", "pipeline 1: share of step time"}
    assert names & set(failed_names(result))
    _assert_no_answer_in(result)


def test_no_message_gives_a_measured_share(grader: ModuleType) -> None:
    """No message, passing or failing, gives a measured share: the profile (the answer) is
    revealed only after a pass."""
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


def test_every_grade_has_two_variants_with_different_bugs(grader: ModuleType) -> None:
    """The pipeline shows its bug (as its code does), so its stage can be named without
    profiling, and a share guessed from the middle of the bug's range passed about one grade
    in four. A grade now has two variants with different bugs: the guess must be right twice."""
    pipeline = practical_module(PRACTICAL, "hotspot_pipeline.py")
    drawn = [[pipeline.draw_bug(v)[0] for v in grader.variants_for(seed)] for seed in range(400)]
    assert all(len(bugs) == 2 and bugs[0] != bugs[1] for bugs in drawn)
    for position in (0, 1):
        counts = Counter(bugs[position] for bugs in drawn)
        assert set(counts) == set(pipeline.BOTTLENECKS) and min(counts.values()) > 50, counts


@pytest.mark.parametrize("passing", [(True, True), (True, False), (False, True)])
def test_the_headline_is_set_only_when_every_variant_passes(
    passing: tuple[bool, bool], grader: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The headline is a measured share: a grade whose first pipeline passed and second failed
    must not carry it (nor is the second pipeline graded after the first fails)."""

    def graded(ctx, number, variant_seed, headlines):
        headlines.append({"name": f"pipeline {number}"})
        return [Check(f"pipeline {number}: share", passing[number - 1], 1.0, "", "%", "")]

    monkeypatch.setattr(grader, "_grade_variant", graded)
    ctx = SimpleNamespace(seed=7, details={}, logged=[])
    ctx.log = ctx.logged.append
    checks = grader.grade(ctx)
    assert [check.passed for check in checks] == list(passing[: 2 if passing[0] else 1])
    if all(passing):
        assert ctx.details["headline"] == {"name": "pipeline 1"}
    else:
        assert "headline" not in ctx.details


def test_variants_cover_every_bug_across_its_whole_range() -> None:
    pipeline = practical_module(PRACTICAL, "hotspot_pipeline.py")
    drawn: dict[str, list[int]] = {}
    for seed in range(500):
        bug, work = pipeline.draw_bug(seed)
        drawn.setdefault(bug, []).append(work)
    assert set(drawn) == set(pipeline.BOTTLENECKS)
    for bug, works in drawn.items():
        low, high = sorted(pipeline.BUG_WORK[bug])
        assert low <= min(works) < low * 1.3 and high / 1.3 < max(works) <= high, bug


@pytest.mark.slow
@pytest.mark.parametrize(
    "bug", ["python-loop", "needless-copies", "tiny-ops", "oversized-layer", "host-sync"]
)
def test_a_share_predicted_from_the_bug_alone_cannot_pass(
    bug: str, grader: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline object shows which bug it has (so does the code), so a submission can name
    the stage without profiling; the share it must measure. Profiled here as the grader
    profiles, the bug's share at the two ends of its range lies further apart than twice the
    widest tolerance, so no share fixed per kind of bug passes both; and at either end its stage
    leads the runner-up by a clear margin (a wrong-row answer fails)."""
    import torch

    from quiz.lab.api import MAX_SLACK_PTS
    from quiz.lab.device import grading_threads

    pipeline = practical_module(PRACTICAL, "hotspot_pipeline.py")
    baseline = practical_module(PRACTICAL, "baseline.py")
    threads = torch.get_num_threads()
    spec = get_practical(PRACTICAL).spec
    widest = spec.thresholds["share_tolerance_pts"] + MAX_SLACK_PTS
    stage = pipeline.BOTTLENECKS[bug]
    seed = next(s for s in range(100) if pipeline.draw_bug(s)[0] == bug)
    batches = [pipeline.make_batch(100 + i) for i in range(10)]
    ends = []
    for work in pipeline.BUG_WORK[bug]:
        monkeypatch.setitem(pipeline.BUG_WORK, bug, (work, work))
        torch.set_num_threads(grading_threads())  # as in the grader's process
        try:
            steps = baseline.profile_steps(pipeline.Pipeline(seed), batches)
        finally:
            torch.set_num_threads(threads)
        shares = grader.stage_shares(steps)
        runner_up = max(share for name, share in shares.items() if name != stage)
        assert shares[stage] - runner_up > 2 * spec.thresholds["stage_tie_pts"], (work, shares)
        ends.append(shares[stage])
    assert abs(ends[1] - ends[0]) > 2 * widest, ends


def test_the_workspace_script_profiles_any_seed_and_reveals_its_bug(tmp_path: Path) -> None:
    """profile_pipeline.py profiles any variant (--seed) and names its bug after (--reveal), so
    a user can try find_hotspot on variants with different bugs, as a grade now does."""
    pipeline = practical_module(PRACTICAL, "hotspot_pipeline.py")
    workspace = start_workspace(PRACTICAL, tmp_path / "ws")
    (workspace / "solution.py").write_text(
        'def find_hotspot(pipeline, batches):\n    return "embed", 50.0\n', encoding="utf-8"
    )
    output = run_workspace_script(
        workspace, "profile_pipeline.py", "--seed", "5", "--rows", "5", "--check", "--reveal"
    )
    bug, work = pipeline.draw_bug(5)
    assert "find_hotspot -> ('embed', 50.0)" in output
    assert f"variant 5: {bug} in {pipeline.BOTTLENECKS[bug]} (work {work})" in output
