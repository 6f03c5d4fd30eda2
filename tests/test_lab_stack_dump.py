"""Where a timed-out submission was running: the referee reads the Python stacks a contestant
dumps on SIGUSR1 (``faulthandler``) and keeps the frames in the contestant's folder."""

from __future__ import annotations

import faulthandler
import os
import threading
from pathlib import Path

import pytest

from quiz import config
from quiz.lab.referee import _line, _own_frames, _small_file_text, dumped_stacks, with_frames
from quiz.lab.runner import grade_practical
from tests.lab_fixtures import write_practical


def _dump_of_this_process(tmp_path: Path) -> str:
    dump = tmp_path / "dump.txt"
    with dump.open("w", encoding="utf-8") as file:
        faulthandler.dump_traceback(file, all_threads=True)
    return dump.read_text(encoding="utf-8")


def test_a_real_dump_is_read_innermost_last(tmp_path: Path) -> None:
    threads = dumped_stacks(_dump_of_this_process(tmp_path))
    this_thread = next(t for t in threads if t[-1]["function"] == "_dump_of_this_process")
    assert this_thread[-1]["path"] == __file__
    assert this_thread[-2]["function"] == "test_a_real_dump_is_read_innermost_last"


def test_only_the_contestants_own_frames_are_kept_from_the_first_thread_with_any(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "solution.py").write_text("def f():\n    while True:\n        pass\n")
    dump = f"""Thread 0x00007f0000000001 (most recent call first):
  File "/usr/lib/python3.11/threading.py", line 320 in wait
Current thread 0x00007f0000000002 (most recent call first):
  File "{workdir}/solution.py", line 3 in f
  File "{tmp_path}/elsewhere/solution.py", line 9 in g
  File "/site-packages/quiz/lab/contestant.py", line 194 in _serve
  File "<string>", line 1 in <module>
"""
    frames = _own_frames(dumped_stacks(dump), workdir)
    assert frames == [{"file": "solution.py", "line": 3, "function": "f", "code": "pass"}]
    assert with_frames("x() did not answer", frames).splitlines() == [
        "x() did not answer",
        "Your code was running (innermost last):",
        '  File "solution.py", line 3, in f',
        "    pass",
    ]
    assert with_frames("", frames, "candidate rank 1").startswith(
        "In the candidate rank 1 process, your code was running"
    )
    assert with_frames("no frames", []) == "no frames"


def test_a_dump_with_nothing_of_the_contestants_shows_nothing(tmp_path: Path) -> None:
    assert _own_frames(dumped_stacks(_dump_of_this_process(tmp_path)), tmp_path / "work") == []
    assert dumped_stacks("garbage\nFile 'x', line 2 in f\n") == []


def test_source_lines_are_read_only_from_small_regular_files(tmp_path: Path) -> None:
    """The contestant can replace its files: a pipe would block the referee, a link would show a
    file of the referee's choosing."""
    (tmp_path / "solution.py").write_text("a = 1\nb = 2\n")
    lines = _small_file_text(tmp_path / "solution.py").splitlines()
    assert _line(lines, 2) == "b = 2" and _line(lines, 3) == ""
    (tmp_path / "secret.py").write_text("the referee's own file\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "secret.py")
    assert _small_file_text(tmp_path / "link.py") == ""
    os.mkfifo(tmp_path / "pipe.py")
    done = threading.Event()

    def read() -> None:
        _small_file_text(tmp_path / "pipe.py")
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "reading a named pipe blocked"
    assert _small_file_text(tmp_path / "missing.py") == ""


def test_a_deep_stack_shows_its_innermost_frames_only(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    frames = "".join(
        f'  File "{workdir}/solution.py", line {line} in f\n' for line in range(100, 0, -1)
    )
    shown = _own_frames(
        dumped_stacks(f"Current thread 0x01 (most recent call first):\n{frames}"), workdir
    )
    assert [frame["line"] for frame in shown] == list(range(89, 101))


TWO_LOOKS = """
import time

from quiz.lab.api import Check


def grade(ctx):
    contestant = ctx.start_contestant("toy_driver:serve")
    contestant.wait_started()
    time.sleep(0.5)
    first = contestant.running_frames()
    time.sleep(2.5)
    second = contestant.running_frames()
    seen = [frames[-1]["function"] if frames else "" for frames in (first, second)]
    return [Check("looks", True, message=" ".join(seen))]
"""


@pytest.mark.slow
def test_a_second_look_reads_the_second_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dumps are appended to one file: a later look must not find the earlier one's frames."""
    root = tmp_path / "practicals"
    write_practical(root, grader=TWO_LOOKS)
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    submission = tmp_path / "solution.py"
    submission.write_text(
        "import threading, time\n\n\n"
        "def first():\n    time.sleep(1.5)\n    second()\n\n\n"
        "def second():\n    while True:\n        time.sleep(0.01)\n\n\n"
        "threading.Thread(target=first, daemon=True).start()\n\n\n"
        "def double(x):\n    return 2 * x\n"
    )
    result = grade_practical("toy", submission, source="path")
    assert result.error is None, result.error
    assert result.checks[0].message == "first second"


TRUSTED_HANGS = """
from quiz.lab.api import Check, SubmissionError


def grade(ctx):
    baseline = ctx.start_contestant("toy_driver:serve", solution="baseline.py")
    try:
        baseline.call("double", 1, timeout_s=2)
    except SubmissionError as err:
        return [Check("baseline", False, message=str(err))]
    return [Check("baseline", True)]
"""


@pytest.mark.slow
def test_a_trusted_contestant_that_times_out_shows_none_of_its_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The practical's own files (a baseline, the model solution a reference split runs) are not
    the user's: their lines stay out of a time-out's message."""
    root = tmp_path / "practicals"
    folder = write_practical(root, grader=TRUSTED_HANGS)
    (folder / "baseline.py").write_text(
        "def double(x):\n    while True:\n        x = x + 0  # the secret line\n"
    )
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    submission = tmp_path / "solution.py"
    submission.write_text("def double(x):\n    return 2 * x\n")
    result = grade_practical("toy", submission, source="path")
    message = result.checks[0].message
    assert message == "double() did not answer within 2 s; the baseline process was stopped"
