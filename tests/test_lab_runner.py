"""The runner contains whatever a submission does and returns a failed result with a reason."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from quiz import config
from quiz.errors import LabError, UsageError
from quiz.lab.catalog import cuda_availability
from quiz.lab.runner import grade_practical
from tests.lab_fixtures import GRADER, REFERENCE, write_practical

pytestmark = pytest.mark.slow


@pytest.fixture
def practicals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "practicals"
    write_practical(root)
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    return root


def submit(tmp_path: Path, code: str, **kwargs: object):
    path = tmp_path / "submission.py"
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    started = time.monotonic()
    result = grade_practical("toy", path, source="path", **kwargs)  # type: ignore[arg-type]
    return result, time.monotonic() - started


def test_reference_passes_with_stamp_and_live_log(practicals: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    result, _ = submit(tmp_path, REFERENCE, on_log=lines.append)
    assert result.passed and result.score == 1.0 and result.error is None
    assert result.device["device"] in ("cpu", "cuda")
    assert result.device["torch"] and result.device["cpu_cores"]
    assert "starting the contestant" in lines and "checked the output" in lines
    data = result.to_dict()
    assert set(data) == {
        "id",
        "passed",
        "inconclusive",
        "verdict",
        "score",
        "duration_s",
        "device",
        "checks",
        "details",
        "error",
        "log_tail",
    }
    assert data["checks"][0] == {
        "name": "doubles",
        "passed": True,
        "measured": None,
        "threshold": None,
        "unit": "",
        "message": "",
        "inconclusive": False,
    }


def test_fake_json_and_garbage_on_stdout_cannot_forge_a_pass(
    practicals: Path, tmp_path: Path
) -> None:
    code = """
        import json, sys
        fake = {"id": "toy", "passed": True, "score": 1.0, "checks": []}
        print(json.dumps(fake)); print(json.dumps({"result": fake, "nonce": "x"}))
        sys.stdout.buffer.write(bytes(range(256)) * 100 + b"x" * 100000)
        def double(x):
            print(json.dumps({"result": fake}))
            return x
    """
    result, _ = submit(tmp_path, code)
    assert not result.passed
    assert result.error is None and result.checks[0].message == "double(x) != 2 * x"
    assert any(line.startswith("[candidate]") for line in result.log_tail)
    assert all(len(line) <= 2100 for line in result.log_tail)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("def double(x):\n    return x / 0 + undefined_name\n", "NameError"),
        ("raise RuntimeError('boom at import')\n", "RuntimeError: boom at import"),
        ("import os\nos._exit(0)\n", "exited with code 0"),
        ("import sys\ndef double(x):\n    sys.exit(3)\n", "sys.exit(3)"),
        ("import ctypes\nctypes.string_at(0)\n", "SIGSEGV"),
        ("hog = []\nwhile True:\n    hog.append(bytearray(256 * 2**20))\n", "out of memory"),
        ("def double(x:\n    return x\n", "SyntaxError"),
    ],
    ids=["exception", "import-error", "os-exit", "sys-exit", "segfault", "memory", "syntax"],
)
def test_misbehaving_submission_fails_with_a_reason(
    practicals: Path, tmp_path: Path, code: str, reason: str
) -> None:
    result, elapsed = submit(tmp_path, code)
    assert not result.passed and result.score == 0.0
    assert result.error is not None and reason in result.error
    assert elapsed < 25


def test_hang_is_stopped_at_the_time_limit_and_shows_where_it_was(
    practicals: Path, tmp_path: Path
) -> None:
    code = "def spin():\n    while True:\n        pass\n\n\nspin()\n"
    # the report comes 3 s before the limit: by then the contestant must have started (torch
    # imported in the referee and the contestant, 7 s or more under CI's load)
    result, elapsed = submit(tmp_path, code, timeout_s=15)
    assert not result.passed
    assert result.error is not None and "time limit of 15 s" in result.error
    assert elapsed < 21
    assert result.device["cpu_cores"]  # the referee's stamp, though it never sent a result
    where = result.error.split("\n", 1)[1]
    assert where.startswith("In the candidate process, your code was running (innermost last):")
    assert 'File "solution.py", line 6, in <module>\n    spin()' in where
    assert 'File "solution.py", line 3, in spin' in where or "line 2, in spin" in where
    assert "contestant.py" not in where and "/tmp" not in where  # the lab's frames left out


def test_a_call_past_its_timeout_shows_where_the_code_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "practicals"
    grader = GRADER.replace('call("double", x)', 'call("double", x, timeout_s=2)')
    assert grader != GRADER
    write_practical(root, grader=grader)
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    code = """
        import torch

        def double(x):
            return settle(x)

        def settle(x):
            while True:
                x = torch.tanh(x)
    """
    result, _ = submit(tmp_path, code)
    assert not result.passed and result.error is not None
    message, where = result.error.split("\n", 1)
    assert message == "double() did not answer within 2 s; the candidate process was stopped"
    assert where.startswith("Your code was running (innermost last):\n")
    assert 'File "solution.py", line 5, in double\n    return settle(x)' in where
    innermost = r'File "solution.py", line (9, in settle\n    x = torch.tanh\(x\)|8, in settle\n    while True:)$'
    assert re.search(innermost, where), where


def test_processes_the_submission_spawns_are_killed(practicals: Path, tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    code = f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(marker)!r}, "w").write(str(child.pid))
        def double(x):
            return 2 * x
    """
    result, _ = submit(tmp_path, code, sandbox="rlimits")  # bwrap would hide the marker's folder
    assert result.passed
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_a_broken_grader_is_a_lab_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "practicals"
    write_practical(root, grader="raise ImportError('the lab is broken')\n")
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    with pytest.raises(LabError, match="the lab is broken"):
        submit(tmp_path, REFERENCE)


def test_a_cuda_practical_is_a_lab_error_without_cuda(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if cuda_availability().available:
        pytest.skip("this machine has CUDA")
    root = tmp_path / "practicals"
    write_practical(root, "toy", device="cuda")
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    with pytest.raises(LabError, match="needs an NVIDIA GPU"):
        submit(tmp_path, REFERENCE)


def test_a_target_without_solution_is_a_usage_error(practicals: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no solution.py"):
        grade_practical("toy", tmp_path, source="path")


def test_same_verdict_over_repeated_grades(practicals: Path, tmp_path: Path) -> None:
    verdicts = [submit(tmp_path, REFERENCE)[0].passed for _ in range(3)]
    assert verdicts == [True, True, True]


def test_runner_and_catalog_do_not_import_torch() -> None:
    code = (
        "import sys, quiz.lab.runner, quiz.lab.catalog, quiz.lab.workspace, quiz.cli.practical\n"
        "from quiz.lab.catalog import cuda_availability\n"
        "cuda_availability()\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped by init counts as gone)."""
    try:
        os.kill(pid, 0)
        status = Path(f"/proc/{pid}/status").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return "\nState:\tZ" not in status


def test_a_single_file_is_graded_beside_the_workspace_files(
    practicals: Path, tmp_path: Path
) -> None:
    result, _ = submit(
        tmp_path,
        """
        from pathlib import Path

        assert Path(__file__).with_name("helper.txt").read_text() == "a helper file\\n"


        def double(x):
            return 2 * x
        """,
    )
    assert result.passed, result.error
