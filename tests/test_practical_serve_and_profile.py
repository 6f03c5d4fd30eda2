"""serve-and-profile: the reference passes, the starter and every control fail, and so does a
submission that hunts the heap for the server's hidden bottleneck (the server now lives in the
grader's process; the submission reaches it only over HTTP through its relay); graded through
the real runner, referee and contestants (each grade starts a server with a new secret
bottleneck). A failing grade names neither the top component nor its share. The fast test runs
the relay against a server on a Unix socket in a folder whose path is too long to bind as is."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from quiz.lab.api import Check
from quiz.lab.catalog import get_practical
from quiz.lab.runner import LabResult, grade_practical
from tests.lab_fixtures import (
    failed_checks,
    failed_names,
    practical_module,
    shipped_files,
    support_module,
)

PRACTICAL = "serve-and-profile"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]
COMPONENTS = ("queue", "preprocess", "model", "serialize")

HUNTS_FOR_THE_SERVER = """
import gc


def diagnose(base_url):
    gc.unfreeze()  # the contestant's startup objects too
    for obj in gc.get_objects():  # the server object, and its secret, in this process?
        try:
            bottleneck = getattr(obj, "bottleneck", None)
            if isinstance(bottleneck, str) and hasattr(obj, "request_log"):
                return bottleneck, 60.0
        except Exception:  # some objects load libraries on attribute access
            continue
    return "nothing-found", 0.0
"""


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def test_the_relay_reaches_a_server_on_a_unix_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_module = support_module(PRACTICAL, "inference_server")
    link = support_module(PRACTICAL, "server_link")
    loadgen = support_module(PRACTICAL, "loadgen")
    folder = tmp_path / ("deep-" * 20)
    folder.mkdir()
    assert len(str(folder / link.SOCKET_NAME)) > 108  # too long for a Unix socket address
    with server_module.InferenceServer(3) as server:
        server.serve_unix(folder / link.SOCKET_NAME)
        monkeypatch.chdir(folder)
        samples = loadgen.run_load(link.Relay(link.SOCKET_NAME).url(), requests=8, concurrency=2)
        assert [s.status for s in samples] == [200] * 8
        assert set(samples[0].server_timing_ms) == {"queue", "app"}
        assert len(server.request_log()) == 8


def _assert_no_answer_in(result: LabResult) -> None:
    """Neither the top component (unless the user named it) nor the secret leaks."""
    assert "answer" not in result.details and "headline" not in result.details
    claimed = result.details.get("your_answer", {}).get("component")
    for check in result.checks:
        for component in COMPONENTS:
            if component != claimed:
                assert component not in str(check.threshold), check
                assert f"{component} is" not in check.message, check


@pytest.mark.slow
def test_reference_passes() -> None:
    result = grade_practical(PRACTICAL, FILES["reference"], source="reference")
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60
    assert result.details["answer"], "a pass shows the server's shares and the bottleneck"


@pytest.mark.slow
@pytest.mark.parametrize("name", FAILING)
def test_starter_and_controls_fail(name: str) -> None:
    result = grade_practical(PRACTICAL, FILES[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
    _assert_no_answer_in(result)


def test_only_a_window_loaded_as_prescribed_is_evidence_about_the_machine() -> None:
    """Red-teamed: a diagnose() that flooded the server at 32 clients and answered "queue" at
    its own window's share was inconclusive every time, never failed; the server now records
    how many requests were in it at each arrival, and each body's size."""
    grader = practical_module(PRACTICAL, "grader.py")
    server = practical_module(PRACTICAL, "inference_server.py")

    def window(in_flight: int, body: int) -> list:
        return [server.RequestTiming(0.0, in_flight, body) for _ in range(40)]

    assert grader.under_the_prescribed_load(window(4, 900), 850, 950)
    assert not grader.under_the_prescribed_load(window(5, 900), 850, 950)  # flooded
    assert not grader.under_the_prescribed_load(window(1, 90_000), 850, 950)  # bloated bodies


@pytest.mark.slow
def test_hunting_the_heap_for_the_server_finds_nothing(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(HUNTS_FOR_THE_SERVER, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert result.error is None, failed_checks(result)
    assert result.details["your_answer"] == {"component": "nothing-found", "share_pct": 0.0}
    assert "primary latency component" in failed_names(result)
    _assert_no_answer_in(result)


def test_a_failure_the_servers_own_record_of_its_window_supports_is_inconclusive() -> None:
    """With a core busy the server itself can behave differently while diagnose() runs than
    under the grader's later load: an answer that the server's record of the diagnose window
    supports, where the two windows disagree by more than the tolerance, is inconclusive (never
    a pass); a wrong answer, or one where the windows agree, stays a failure."""
    grader = practical_module(PRACTICAL, "grader.py")
    truth = {"queue": 10.0, "preprocess": 70.0, "model": 15.0, "serialize": 5.0}
    changed = {"queue": 30.0, "preprocess": 50.0, "model": 15.0, "serialize": 5.0}
    share_failed = Check("p50 share", False, 51.7, "±13.6", "%", "your 51.7% ...")
    verdict = grader.machine_changed(
        share_failed, "preprocess", 51.7, truth, [truth, changed], 10.0
    )
    assert verdict.inconclusive and not verdict.passed
    assert "70" not in verdict.message  # the grader's figure stays hidden
    wrong = grader.machine_changed(share_failed, "preprocess", 20.0, truth, [changed], 10.0)
    assert not wrong.inconclusive
    steady = grader.machine_changed(share_failed, "preprocess", 51.7, truth, [truth], 10.0)
    assert not steady.inconclusive
    passed = Check("p50 share", True, 68.0, "±10.0", "%", "")
    assert grader.machine_changed(passed, "preprocess", 68.0, truth, [changed], 10.0) is passed

    top_failed = Check("primary latency component", False, "queue", "largest p50 share", "", "")
    flipped = {"queue": 60.0, "preprocess": 20.0, "model": 15.0, "serialize": 5.0}
    assert grader.machine_changed(
        top_failed, "queue", 60.0, truth, [truth, flipped], 10.0
    ).inconclusive
    assert not grader.machine_changed(
        top_failed, "queue", 60.0, truth, [truth, truth], 10.0
    ).inconclusive


def test_a_component_the_graders_own_load_tests_disagree_on_is_inconclusive() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    first = {"queue": 26.0, "preprocess": 3.2, "model": 11.1, "serialize": 58.6}
    second = {"queue": 69.4, "preprocess": 1.2, "model": 3.5, "serialize": 25.9}
    failed = Check("primary latency component", False, "serialize", "largest p50 share", "", "")
    verdict = grader.loads_disagree(failed, "serialize", first, second)
    assert verdict.inconclusive and not verdict.passed
    assert "serialize" not in verdict.message and "queue" not in verdict.message
    assert not grader.loads_disagree(failed, "model", first, second).inconclusive
    assert not grader.loads_disagree(failed, "serialize", first, first).inconclusive
    passed = Check("primary latency component", True, "queue", "largest p50 share", "", "")
    assert grader.loads_disagree(passed, "queue", first, second) is passed


def test_the_diagnose_window_is_also_read_in_stretches() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    log = list(range(100))
    parts = grader.stretches(log)
    assert parts[0] == log
    size = 2 * grader.MIN_WINDOW_REQUESTS
    assert all(len(part) == size for part in parts[1:])
    assert parts[1][0] == 0 and parts[-1][-1] == 99 - (100 - size) % grader.MIN_WINDOW_REQUESTS
    assert grader.stretches(log[:10]) == [log[:10]]


def test_an_inconclusive_grade_is_measured_again_once_and_a_decision_is_final() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    undecided = Check("p50 share", False, 51.7, "±10.0", "%", "inconclusive: ...", True)
    passed = Check("p50 share", True, 68.0, "±10.0", "%", "")
    failed = Check("p50 share", False, 20.0, "±10.0", "%", "")

    def graded(*attempts: list[Check]) -> tuple[list[Check], SimpleNamespace, int]:
        ctx = SimpleNamespace(details={}, logged=[])
        ctx.log = ctx.logged.append
        queue = list(attempts)
        checks = grader.measured_until_decided(ctx, lambda: queue.pop(0), 2)
        return checks, ctx, len(attempts) - len(queue)

    checks, ctx, runs = graded([undecided], [passed])
    assert checks == [passed] and runs == 2 and ctx.details["attempts"] == 2
    assert "attempt 2 of 2" in ctx.logged[0]
    checks, ctx, runs = graded([failed], [passed])
    assert checks == [failed] and runs == 1 and not ctx.logged  # a failure is not retried
    checks, ctx, runs = graded([passed, undecided], [undecided], [passed])
    assert checks == [undecided] and runs == 2  # never more than the attempts allowed
