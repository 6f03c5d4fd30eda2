"""`latency-quiz practical list|start|grade`: output shapes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quiz import config
from quiz.cli import main
from tests.lab_fixtures import write_practical


@pytest.fixture
def practicals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "practicals"
    write_practical(root, "toy")
    write_practical(root, "toy-gpu", device="cuda")
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "home"))
    # An empty bank: these tests are about the lab, not the state of the shipped questions.
    bank = tmp_path / "bank"
    bank.mkdir()
    monkeypatch.setattr(config, "bank_dir", lambda: bank)
    return root


def test_list_json_has_the_contract_fields(
    practicals: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["practical", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["toy", "toy-gpu"]
    for row in rows:
        assert set(row) == {
            "id",
            "title",
            "phase",
            "level",
            "device",
            "available",
            "reason",
            "caveat",
        }


def test_list_text_says_why_unavailable(
    practicals: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["practical", "list"]) == 0
    out = capsys.readouterr().out
    assert "toy-gpu" in out and "Toy practical toy" in out


def test_start_prints_the_workspace_path(
    practicals: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["practical", "start", "toy", "--dir", str(tmp_path / "ws")]) == 0
    captured = capsys.readouterr()
    path = Path(captured.out.strip())  # only the path on stdout: `cd "$(... start toy)"`
    assert (path / "solution.py").is_file()
    assert f"then run `latency-quiz practical grade toy {path}`" in captured.err
    assert main(["practical", "start", "toy", "--dir", str(tmp_path / "ws")]) == 0
    captured = capsys.readouterr()
    assert Path(captured.out.strip()) == path and "already exists" in captured.err


def test_usage_and_not_found_exit_codes(
    practicals: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["practical", "grade", "nope", "--reference"]) == 1
    assert main(["practical", "grade", "toy", str(tmp_path), "--reference"]) == 2
    assert main(["practical", "grade", "toy"]) == 1  # no workspace yet
    assert "practical start toy" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["practical", "grade", "toy", "--reference", "--starter"])
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_grade_exit_codes_json_and_stored_runs(
    practicals: Path, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", db_url, "practical", "grade", "toy", "--reference", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["passed"] is True and result["id"] == "toy"
    assert {"id", "passed", "score", "duration_s", "device", "checks"} <= set(result)
    assert "starting the contestant" in captured.err  # live progress on stderr

    assert main(["--db", db_url, "practical", "grade", "toy", "--starter"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "doubles" in out

    workspace = tmp_path / "ws"
    assert main(["practical", "start", "toy", "--dir", str(workspace)]) == 0
    (workspace / "solution.py").write_text("def double(x):\n    return x + x\n")
    assert main(["--db", db_url, "practical", "grade", "toy", str(workspace)]) == 0

    from quiz.store import open_store

    store = open_store(db_url)
    try:
        runs = [(r.source, r.passed) for r in store.practical_runs("toy")]
    finally:
        store.close()
    assert runs == [("reference", True), ("starter", False), ("path", True)]


@pytest.mark.slow
def test_grade_on_a_machine_without_cuda_exits_3(
    practicals: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from quiz.lab.catalog import cuda_availability

    if cuda_availability().available:
        pytest.skip("this machine has CUDA")
    assert main(["practical", "grade", "toy-gpu", "--reference"]) == 3
    assert "needs an NVIDIA GPU" in capsys.readouterr().err


def test_doctor_reports_the_sandbox_level_and_the_forced_fallback(
    practicals: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from quiz.lab.sandbox import LEVELS, sandbox_level

    sandbox_level.cache_clear()
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["sandbox"]
    assert report["level"] in LEVELS and report["description"]
    assert "tasks" in report["processes"] or report["processes"].startswith("not capped")
    assert report["memory_reads"].startswith(("allowed", "refused"))
    monkeypatch.setenv("LATENCY_QUIZ_SANDBOX", "rlimits")
    sandbox_level.cache_clear()
    try:
        assert main(["doctor"]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Sandbox"))
        assert "rlimits only (LATENCY_QUIZ_SANDBOX=rlimits)" in line
        assert "install bubblewrap" in line
    finally:
        sandbox_level.cache_clear()


@pytest.mark.slow
def test_grade_text_shows_the_users_traceback_and_not_the_labs(
    practicals: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.py"
    path.write_text("def double(x):\n    return {}['oops']\n", encoding="utf-8")
    assert main(["practical", "grade", "toy", str(path)]) == 1
    out = capsys.readouterr().out
    assert "toy: FAILED" in out and "KeyError: 'oops'" in out
    assert 'File "solution.py", line 2, in double' in out


@pytest.mark.parametrize(
    ("scope", "root", "allowed"),
    [("0", False, True), ("1", False, True), ("2", True, True), ("2", False, False),
     ("3", True, False), ("not a number", False, True)],
)  # fmt: skip
def test_memory_reads_follow_the_ptrace_scope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scope: str, root: bool, allowed: bool
) -> None:
    from quiz.lab import sandbox

    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 0 if root else 1000)
    scope_file = tmp_path / "ptrace_scope"
    scope_file.write_text(scope + "\n")
    ok, why = sandbox.contestant_memory_reads(scope_file)
    assert ok is allowed
    assert why.startswith("allowed" if allowed else "refused")
    if not allowed:
        assert "ptrace_scope=1" in why


def test_doctor_reports_the_grading_threads_and_the_practicals_that_cap_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from quiz.lab.device import grading_threads

    assert main(["doctor"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Grading"))
    assert line.split()[1:3] == [str(grading_threads()), "torch"]
    assert "per graded process" in line
    assert "kv-cache 1" in line and "tiled-attention 1" in line


def test_doctor_names_a_practical_that_may_not_be_gradable_here(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("quiz.lab.catalog.cpu_flags", lambda: frozenset({"avx2"}))
    assert main(["doctor"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Practicals"))
    assert "; int8-ptq: this CPU's int8 GEMMs may be too slow for 2x" in line
    monkeypatch.setattr("quiz.lab.catalog.cpu_flags", lambda: frozenset({"avx512_vnni"}))
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["practicals"]["caveats"] == {}


def test_a_worded_threshold_keeps_its_own_unit(capsys: pytest.CaptureFixture[str]) -> None:
    """A share tolerance is in points, not in the share's %; a numeric threshold takes the
    check's unit, in the text output and in the TUI's table alike (one formatter for both)."""
    from quiz.cli.practical import print_result
    from quiz.lab.api import Check, threshold_text
    from quiz.lab.runner import LabResult
    from quiz.tui.widgets.lab import checks as tui_checks

    assert tui_checks.threshold_text is threshold_text

    checks = [
        Check("share of step time", True, 77.07, "±14.9 pts", "%", "within"),
        Check("speed-up", True, 2.4, 2.0, "x", "meets"),
    ]
    print_result(LabResult("toy", True, 1.0, 1.0, {}, checks))
    table = capsys.readouterr().out
    assert "±14.9 pts " in table and "±14.9 pts %" not in table
    assert "2 x " in table
    assert threshold_text("±14.9 pts", "%") == "±14.9 pts"
    assert threshold_text(2.0, "x") == "2 x"


def test_a_passing_grade_prints_the_revealed_answer_as_the_tui_shows_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from quiz.cli.practical import print_result
    from quiz.lab.api import Check, revealed_answer
    from quiz.lab.runner import LabResult

    answer = ["the grader's profile: head 89.3 %", "this grade's variant: oversized-layer"]
    for passed in (True, False):
        checks = [Check("share", passed, 88.0, "±5.0 pts", "%")]
        print_result(LabResult("toy", passed, float(passed), 1.0, {}, checks, {"answer": answer}))
        out = capsys.readouterr().out
        shown = revealed_answer(passed, {"answer": answer})
        assert bool(shown) == passed and shown in out, out
        assert ("this grade's variant" in out) == passed, out  # a fail gives nothing away
