"""The referee/contestant split against submissions written to cheat or to escape, one class of
the threat model each (docs/lab.md): the code under test is not trusted, the grading machine is.
Graded through the real runner, referee and sandbox."""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quiz import config
from quiz.lab import contestant
from quiz.lab.referee import call_error
from quiz.lab.runner import LabResult, grade_practical
from quiz.lab.sandbox import HIDDEN_TMPFS_BYTES, TMP_BYTES, sandbox_level
from tests.lab_fixtures import GRADER, write_practical

pytestmark = pytest.mark.slow

NAMESPACES = sandbox_level().level == "namespaces"
needs_namespaces = pytest.mark.skipif(
    not NAMESPACES, reason=f"sandbox level here: {sandbox_level().describe()}"
)


@pytest.fixture
def outside(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """A home, a data directory and a practicals folder outside /tmp (which the sandbox always
    replaces), each holding something a submission must not read or change."""
    root = Path(tempfile.mkdtemp(prefix="lq-outside-", dir="/var/tmp"))
    home, data, practicals = root / "home", root / "data", root / "practicals"
    for folder in (home, data):
        folder.mkdir()
    (home / "secret.txt").write_text("the user's own file\n")
    (data / "latency-quiz.db").write_bytes(b"SQLite format 3\0 not really")
    write_practical(practicals)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(config.HOME_ENV, str(data))
    monkeypatch.setenv("LATENCY_QUIZ_SECRET_SEED", "12345")
    monkeypatch.setattr(config, "practicals_dir", lambda: practicals)
    yield {"home": home, "data": data, "practicals": practicals}
    import shutil

    shutil.rmtree(root, ignore_errors=True)


def grade(tmp_path: Path, code: str, practical: str = "toy", **kwargs: object) -> LabResult:
    path = tmp_path / "submission.py"
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return grade_practical(practical, path, source="path", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as resources:
        yield resources


@contextlib.contextmanager
def listening_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections: a submission must not reach it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def probe(checks: str) -> str:
    """A submission that doubles correctly only when none of ``checks`` found a problem."""
    body = textwrap.indent(textwrap.dedent(checks), "    ")
    return f"import os, pathlib, socket\n\ndef double(x):\n    problems = []\n{body}\n" + (
        "    if problems:\n        raise AssertionError('; '.join(problems))\n    return 2 * x\n"
    )


def own_environment(home: Path) -> str:
    """Checks that the contestant has an environment of its own: no LATENCY_QUIZ_* variables,
    not the user's HOME, no file descriptors but 0-2, the channel's two pipes and its stack
    dump's file."""
    return f"""
        if [k for k in os.environ if k.startswith("LATENCY_QUIZ")]:
            problems.append("LATENCY_QUIZ_* in the environment")
        if os.environ.get("HOME") == {str(home)!r}:
            problems.append("the user's HOME")
        held = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                held.append(os.readlink("/proc/self/fd/" + fd) if int(fd) > 2 else "std")
            except OSError:
                pass  # listdir's own, closed by now
        extra = [t for t in held if t != "std" and not t.endswith("/.stack-dump")]
        if len(extra) > 2 or any(not t.startswith("pipe:") for t in extra):
            problems.append("inherited file descriptors: " + str(held))
        """


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@needs_namespaces
def test_nothing_of_the_user_or_the_lab_is_visible_or_writable(
    outside: dict[str, Path], tmp_path: Path, stack: contextlib.ExitStack
) -> None:
    port = stack.enter_context(listening_port())
    source_git = Path(config.__file__).resolve().parents[1] / ".git"
    before = {name: snapshot(path) for name, path in outside.items()}
    code = probe(
        own_environment(outside["home"])
        + f"""
        for path in ({str(outside["home"] / "secret.txt")!r},
                     {str(outside["data"] / "latency-quiz.db")!r},
                     {str(outside["practicals"] / "toy" / "reference.py")!r},
                     {str(outside["practicals"] / "toy" / "grader.py")!r},
                     {str(source_git)!r}):
            if pathlib.Path(path).exists():
                problems.append("can see " + path)
        for folder in ({str(outside["home"])!r}, {str(outside["data"])!r}):
            try:
                pathlib.Path(folder, "planted.txt").write_text("x")
            except OSError:
                pass
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
            problems.append("reached the network")
        except OSError:
            pass
        try:
            os.kill({os.getpid()}, 0)
            problems.append("can signal a process outside")
        except ProcessLookupError:
            pass
        try:
            pathlib.Path("/dev/planted").write_text("x")
            problems.append("can store files in /dev")
        except OSError:
            pass
        if [p.name for p in pathlib.Path("/dev").iterdir() if p.is_block_device()]:
            problems.append("sees the host's disks in /dev")
        pathlib.Path("/dev/shm/scratch").write_bytes(b"x")
        for folder, cap in (("/tmp", {TMP_BYTES}), ("/dev/shm", {TMP_BYTES}),
                            ({str(outside["home"])!r}, {HIDDEN_TMPFS_BYTES})):
            stat = os.statvfs(folder)
            if stat.f_blocks * stat.f_frsize > cap:
                problems.append(f"{{folder}} holds up to {{stat.f_blocks * stat.f_frsize}} bytes")
        """
    )
    result = grade(tmp_path, code)
    assert result.passed, result.error
    assert result.device["sandbox"] == "namespaces"
    assert {name: snapshot(path) for name, path in outside.items()} == before


def test_the_fallback_strips_the_environment_and_runs_in_a_scratch_folder(
    outside: dict[str, Path], tmp_path: Path
) -> None:
    code = probe(
        own_environment(outside["home"])
        + f"""
        if pathlib.Path.cwd() == pathlib.Path({str(tmp_path)!r}):
            problems.append("runs in the submission's folder")
        """
    )
    result = grade(tmp_path, code, sandbox="rlimits")
    assert result.passed, result.error
    assert result.device["sandbox"] == "rlimits"


@pytest.mark.parametrize("level", ["namespaces", "rlimits"])
def test_a_contestant_stays_on_the_core_it_was_pinned_to(
    outside: dict[str, Path], tmp_path: Path, level: str
) -> None:
    """Baseline and candidate share the grade's idlest core; a candidate cannot move its calls
    to another (idler or faster) one, even from a thread or a child process it starts."""
    if level == "namespaces" and not NAMESPACES:
        pytest.skip(f"sandbox level here: {sandbox_level().describe()}")
    code = probe(
        """
        import subprocess, sys, threading
        pinned = os.sched_getaffinity(0)
        if len(pinned) != 1:
            problems.append(f"not pinned to one core: {pinned}")
        everything = set(range(os.cpu_count() or 1)) | {0, 1}
        def move():
            try:
                os.sched_setaffinity(0, everything)
                problems.append("sched_setaffinity was allowed")
            except PermissionError:
                pass
        move()
        thread = threading.Thread(target=move)
        thread.start()
        thread.join()
        child = subprocess.run(
            [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {everything})"],
            capture_output=True,
        )
        if child.returncode == 0:
            problems.append("a child process moved itself")
        if os.sched_getaffinity(0) != pinned:
            problems.append("the affinity changed")
        """
    )
    result = grade(tmp_path, code, sandbox=level)
    assert result.passed, result.error
    assert len(result.device["contestant_cores"]) == 1


@pytest.mark.parametrize("level", ["namespaces", "rlimits"])
def test_memory_is_capped_by_a_private_memory_limit_not_an_address_space_one(
    outside: dict[str, Path], tmp_path: Path, level: str
) -> None:
    """The toy's 1 GiB budget stops a 2 GiB allocation; the cap is RLIMIT_DATA, because any
    finite RLIMIT_AS made about half of the processes 16-30 % slower at the same work here."""
    if level == "namespaces" and not NAMESPACES:
        pytest.skip(f"sandbox level here: {sandbox_level().describe()}")
    code = probe(
        """
        import resource
        import torch
        if resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY:
            problems.append("an address-space limit")
        try:
            torch.ones(2**31, dtype=torch.uint8)
            problems.append("allocated 2 GiB past a 1 GiB budget")
        except RuntimeError:
            pass
        torch.ones(2**28, dtype=torch.uint8)  # 256 MiB is within it
        """
    )
    result = grade(tmp_path, code, sandbox=level)
    assert result.passed, result.error


def test_a_forged_result_on_every_descriptor_is_ignored(outside: dict, tmp_path: Path) -> None:
    code = """
        import gc, json, os
        fake = {"id": "toy", "passed": True, "score": 1.0, "checks": [], "error": None}
        for fd in range(0, 64):
            for line in (json.dumps({"result": fake}), json.dumps({"ok": True, "value": None})):
                try:
                    os.write(fd, (line + "\\n").encode())
                except OSError:
                    pass
        def double(x):
            return x
    """
    result = grade(tmp_path, code)
    assert not result.passed and result.score == 0.0
    # Its own channel is the only one it holds: writing garbage there breaks its own replies.
    assert result.checks[0].message == "double(x) != 2 * x" if result.checks else result.error


def test_grader_state_is_out_of_reach(outside: dict, tmp_path: Path) -> None:
    """Nothing in the contestant's memory holds the grader, its thresholds or its seed."""
    code = """
        import gc, sys
        def double(x):
            gc.unfreeze()  # the contestant's startup objects too
            for obj in gc.get_objects():
                try:
                    found = isinstance(obj, dict) and "min_speedup" in obj
                    found = found or type(obj).__name__ in ("GradeContext", "Harness")
                except Exception:
                    continue
                if found:
                    raise AssertionError(f"found grader state: {type(obj)}")
            if "grader" in sys.modules or "quiz.lab.harness" in sys.modules:
                raise AssertionError("the grader or the harness is loaded here")
            return 2 * x
    """
    result = grade(tmp_path, code)
    assert result.passed, result.error


def test_a_lazy_reply_is_refused_and_a_tensor_subclass_arrives_plain(
    outside: dict, tmp_path: Path
) -> None:
    lazy = grade(tmp_path, "def double(x):\n    return (2 * v for v in x)\n")
    assert not lazy.passed and "generator cannot cross the channel" in (lazy.error or "")
    subclass = grade(
        tmp_path,
        """
        import torch
        class Deferred(torch.Tensor):
            pass
        def double(x):
            return (2 * x).as_subclass(Deferred)
        """,
    )
    assert subclass.passed, subclass.error  # it crossed as a plain tensor with the values


def test_a_crash_shows_the_users_own_frames(outside: dict, tmp_path: Path) -> None:
    code = """
        def lookup(table):
            return table["oops"]


        def double(x):
            return lookup({})
    """
    result = grade(tmp_path, code)
    error = result.error or ""
    assert "KeyError: 'oops'" in error
    assert 'File "solution.py", line 3, in lookup' in error
    assert 'File "solution.py", line 7, in double' in error
    assert "quiz/lab" not in error and "contestant.py" not in error


def test_a_traceback_starts_at_the_users_code_and_keeps_public_modules_it_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The practical's endpoint that called solution.py is left out; a public module that
    solution.py called stays (its check raised the error); with no frame in solution.py, the
    endpoint's frames are all there is to show."""
    (tmp_path / "toy_endpoints.py").write_text(
        textwrap.dedent(
            """\
            import solution


            def work(x):
                return solution.work(x)


            def check(x):
                raise ValueError(f"x must be positive, not {x}")


            def missing(x):
                raise AttributeError("solution.py must define work(x)")
            """
        )
    )
    (tmp_path / "solution.py").write_text(
        "import toy_endpoints\n\n\ndef work(x):\n    toy_endpoints.check(x)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("solution", "toy_endpoints"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    endpoints = importlib.import_module("toy_endpoints")

    def error_of(endpoint: Any) -> dict[str, Any]:
        with pytest.raises(Exception) as raised:
            endpoint(-1)
        return contestant.describe_error(raised.value, tmp_path)

    def frames_of(error: dict[str, Any]) -> list[tuple[str, str]]:
        return [(frame["file"], frame["function"]) for frame in error["frames"]]

    reached = error_of(endpoints.work)
    assert frames_of(reached) == [("solution.py", "work"), ("toy_endpoints.py", "check")]
    # named after the user's function, not the endpoint the practical wraps it in
    assert call_error(reached, "run").startswith(
        "work() raised ValueError: x must be positive, not -1\n"
        'Traceback (your code, innermost last):\n  File "solution.py", line 5, in work\n'
    )
    never_reached = error_of(endpoints.missing)
    assert frames_of(never_reached) == [("toy_endpoints.py", "missing")]
    assert call_error(never_reached, "run").startswith("run() raised AttributeError")


ASKING_GRADER = """
from quiz.lab.api import Check


def grade(ctx):
    contestant = ctx.start_contestant("toy_driver:serve")
    outs = [contestant.call("double", x, on_ask=lambda question: 1) for x in range(40)]
    refused = contestant.call("refused")
    return [Check("doubles", outs == [2 * x for x in range(40)], len(outs), 40, message=refused)]
"""

ASKING_DRIVER = """
def serve(solution, init):
    return {"double": solution.double, "refused": solution.refused}
"""


def test_a_thread_asking_after_its_call_returned_is_refused_and_harms_no_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread that keeps asking the referee between calls: its question would be read as the
    next call's reply, and it would take the next request for its answer (frames interleave, a
    call hangs). It is refused in the contestant, and every call gets its own answer."""
    root = tmp_path / "practicals"
    folder = write_practical(root, grader=ASKING_GRADER)
    (folder / "toy_driver.py").write_text(ASKING_DRIVER)
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    code = """
        import threading
        import time

        from quiz.lab.contestant import ask_referee

        REFUSED = []


        def pester():
            while True:
                try:
                    ask_referee("still there?")
                except RuntimeError as err:
                    REFUSED.append(str(err))
                time.sleep(0.0001)


        def double(x):
            if x == 0:
                threading.Thread(target=pester, daemon=True).start()
            assert ask_referee("may I?") == 1
            time.sleep(0.002)
            return 2 * x


        def refused():
            return REFUSED[0] if REFUSED else "never refused"
    """
    result = grade(tmp_path, code)
    assert result.passed, (result.error, result.checks)
    assert result.checks[0].message == "ask_referee() is answered only while a call is running"


def test_a_time_out_shows_no_file_the_submission_points_the_referee_at(
    outside: dict, tmp_path: Path
) -> None:
    """A time-out's message quotes the lines the submission was running, read by the referee
    from the contestant's folder: a submission that swaps its own file for a link to the model
    solution (which its sandbox hides but the referee can read) gets its frames without a line
    read through the link."""
    timed = GRADER.replace('call("double", x)', 'call("double", x, timeout_s=2)')
    folder = write_practical(outside["practicals"], "toy-timed", grader=timed)
    reference = folder / "reference.py"
    assert reference.read_text().splitlines()[1] == "    return 2 * x"
    code = f"""\
        def double(x):
            while True: __import__("time").sleep(0.01)
        import os
        os.remove("solution.py")
        os.symlink({str(reference)!r}, "solution.py")
    """
    result = grade(tmp_path, code, practical="toy-timed")
    error = result.error or ""
    assert error.startswith("double() did not answer within 2 s"), error
    assert 'File "solution.py", line 2, in double' in error
    assert "return 2 * x" not in error  # a pipe in place of the dump: test_lab_stack_dump.py


MEMORY_GRADER = """
from quiz.lab.api import Check


def grade(ctx):
    contestant = ctx.start_contestant("toy_driver:serve")
    contestant.call("double", 1)
    held = contestant.memory()
    return [Check("holds", True, held.uss / 2**20, None, "MiB")]
"""


def test_memory_is_read_from_outside_globals_and_children_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "practicals"
    write_practical(root, grader=MEMORY_GRADER)
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    small = grade(tmp_path, "def double(x):\n    return 2 * x\n")
    hidden = grade(
        tmp_path,
        """
        import torch
        _CACHE = [torch.ones(96 * 2**20 // 4)]  # 96 MiB held in a module global


        def double(x):
            return 2 * x
        """,
    )
    assert small.passed and hidden.passed, (small.error, hidden.error)
    extra = float(hidden.checks[0].measured or 0) - float(small.checks[0].measured or 0)
    assert 80 <= extra <= 140, extra


SPEED_GRADER = """
import torch

from quiz.lab.api import Check


def grade(ctx):
    candidate = ctx.start_contestant("toy_driver:serve")
    baseline = ctx.start_contestant("toy_driver:serve", solution="baseline.py")

    def inputs(seed):
        return torch.randn(160, 160, generator=torch.Generator().manual_seed(seed % 2**63)) / 16

    comparison = ctx.compare(baseline, candidate, "work", inputs, label="known 2x", max_time_s=8)
    share = comparison.channel_overhead_share
    return [Check("speed-up", True, comparison.speedup, share, "x")]
"""

SPEED_DRIVER = """
def serve(solution, init):
    return {"work": solution.work}
"""

WORK = """
import torch


def work(x, rounds={rounds}):
    y = x
    for _ in range(rounds):
        y = torch.tanh(y @ x)
    return y
"""


TWICE = """
import torch


def work(x, repeats={repeats}):
    for _ in range(repeats):  # the very same computation, once or twice
        y = x
        for _ in range(480):
            y = torch.tanh(y @ x)
    return y
"""

# The driver also reports how long the work took inside the contestant, so the test can tell
# what the channel adds from how fast each process did the work.
SELF_TIMED_DRIVER = """
import time


def serve(solution, init):
    def work(x):
        start = time.perf_counter_ns()
        y = solution.work(x)
        return [y, (time.perf_counter_ns() - start) / 1e9]

    return {"work": work}
"""

SELF_TIMED_GRADER = """
import statistics

import torch

from quiz.lab.api import Check


def grade(ctx):
    candidate = ctx.start_contestant("toy_driver:serve")
    baseline = ctx.start_contestant("toy_driver:serve", solution="baseline.py")
    inside = ([], [])

    def inputs(seed):
        return torch.randn(160, 160, generator=torch.Generator().manual_seed(seed % 2**63)) / 16

    def record(_inputs, base_out, cand_out):
        inside[0].append(base_out[1])
        inside[1].append(cand_out[1])

    comparison = ctx.compare(
        baseline, candidate, "work", inputs, check=record, label="known 2x", max_time_s=8
    )
    # The timed trials are one window of what record saw (warm-up and a second round are the
    # rest, and the round kept is the steadier one, not always the last): the window whose own
    # times sit closest under the referee's.
    outside = (comparison.baseline.samples, comparison.candidate.samples)
    n = len(outside[0])

    def distance(start):
        return sum(
            abs(out - own)
            for side in (0, 1)
            for out, own in zip(outside[side], inside[side][start : start + n])
        )

    start = min(range(len(inside[0]) - n + 1), key=distance)
    window = [statistics.median(side[start : start + n]) for side in inside]
    own = window[0] / window[1]
    share = comparison.channel_overhead_share
    return [
        Check("through the channel", True, comparison.speedup, own, "x"),
        Check("channel share", True, share, 0.02, ""),
    ]
"""


def test_a_known_two_x_workload_measures_two_through_the_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "practicals"
    folder = write_practical(root, grader=SELF_TIMED_GRADER, time_limit_s=120)
    (folder / "toy_driver.py").write_text(SELF_TIMED_DRIVER)
    (folder / "baseline.py").write_text(TWICE.format(repeats=2))
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    result = grade(tmp_path, TWICE.format(repeats=1))
    assert result.passed, result.error
    outside, inside = result.checks[0].measured, result.checks[0].threshold
    share = result.checks[1].measured
    assert isinstance(outside, float) and isinstance(inside, float) and isinstance(share, float)
    # The channel must not distort: what the referee measures from outside is within 3 % of what
    # the two processes measured themselves doing the work (0.3-1 % as a rule), and the channel's
    # own share stays small (0.3-0.5 % of a 145 ms baseline call as a rule; one CI run once
    # measured a 3.4 ms round trip, so 3 % is allowed).
    assert abs(outside / inside - 1) <= 0.03, result.checks
    # On this VM, idle, both figures are 1.98-2.04x (benchmarks/channel.py reports it). Whether two
    # processes run the same code at the same speed is the host's doing, not the channel's: one CI
    # host measured 2.25x from outside with the processes' own figure 2.27x (the longer calls ran
    # 13 % slower per round there). So the 2.0 is held to 15 %, a check that the work is the known
    # 2x at all, and the channel's fidelity to 3 % above.
    assert abs(inside / 2 - 1) <= 0.15, result.checks
    assert abs(outside / 2 - 1) <= 0.15, result.checks
    assert share <= 0.03, result.checks


# Keeps a thread busy from import on, whether or not the candidate is being called.
HOG = (
    "import threading\n\n"
    "def _spin():\n    while True:\n        sum(range(10000))\n\n"
    "threading.Thread(target=_spin, daemon=True).start()\n"
)


def test_working_between_calls_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate that keeps a thread busy while the baseline is being timed (stealing its core
    on a small machine) uses more CPU than its own calls allow."""
    root = tmp_path / "practicals"
    folder = write_practical(root, grader=SPEED_GRADER, time_limit_s=120)
    (folder / "toy_driver.py").write_text(SPEED_DRIVER)
    (folder / "baseline.py").write_text(WORK.format(rounds=40))
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    result = grade(tmp_path, HOG + WORK.format(rounds=20))
    assert not result.passed
    assert "works outside its calls" in (result.error or ""), result.error


YARDSTICK_GRADER = """
import torch

from quiz.lab.api import Check


def grade(ctx):
    candidate = ctx.start_contestant("toy_driver:serve")
    baseline = ctx.start_contestant("toy_driver:serve", solution="baseline.py")
    other = ctx.start_contestant("toy_driver:serve", solution="baseline.py")
    candidate.wait_started()

    def inputs(seed):
        return torch.randn(160, 160, generator=torch.Generator().manual_seed(seed % 2**63)) / 16

    three = ctx.compare_with_yardstick(
        baseline, other, candidate, "work", inputs, max_time_s=3
    )
    return [Check("timed", True, three.vs_yardstick.speedup, None, "x")]
"""


def test_working_while_the_yardstick_is_timed_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``compare_with_yardstick`` (tensor-parallel times Megatron's split and 1 rank beside the
    submission with it) holds the candidate to what it may use between its own calls: a busy
    thread cannot make the machine look slow while the trusted contestants are timed."""
    root = tmp_path / "practicals"
    folder = write_practical(root, grader=YARDSTICK_GRADER, time_limit_s=120)
    (folder / "toy_driver.py").write_text(SPEED_DRIVER)
    (folder / "baseline.py").write_text(WORK.format(rounds=40))
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    quiet = grade(tmp_path, WORK.format(rounds=20))
    assert quiet.passed, quiet.error
    busy = grade(tmp_path, HOG + WORK.format(rounds=20))
    assert not busy.passed
    assert "works outside its calls" in (busy.error or ""), busy.error


@needs_namespaces
def test_a_python_installed_under_tmp_stays_visible(tmp_path: Path) -> None:
    """The sandbox puts an empty /tmp over the real one; what the contestant's Python needs
    (a virtual environment created under /tmp, say) is mounted back, read-only."""
    import shutil

    venv = Path(tempfile.mkdtemp(prefix="lq-venv-", dir="/tmp")) / "lib"
    venv.mkdir()
    (venv / "site.py").write_text("# the interpreter's files\n")
    script = f"import pathlib; print(pathlib.Path({str(venv / 'site.py')!r}).read_text())"
    try:
        printed = run_confined(tmp_path, script, needed=(venv,))
    finally:
        shutil.rmtree(venv.parent, ignore_errors=True)
    assert "the interpreter's files" in printed


def run_confined(
    tmp_path: Path, script: str, *, needed: tuple[Path, ...] = (), cuda: bool = False
) -> str:
    """What ``script`` prints, run by this Python in the namespaces sandbox."""
    import subprocess

    from quiz.lab.sandbox import confine

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    confinement = confine(
        [sys.executable, "-c", script],
        scratch=scratch,
        hidden=[],
        needed=[*needed, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()],
        threads=1,
        cuda=cuda,
        cpu_seconds=30,
        level="namespaces",
    )
    done = subprocess.run(
        confinement.argv,
        env=confinement.env,
        preexec_fn=confinement.preexec,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_device_folder_binds_only_the_gpus_nodes(tmp_path: Path) -> None:
    from quiz.lab.sandbox import _device_folder

    devices = tmp_path / "dev"
    devices.mkdir()
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "sda", "shm", "kmsg"):
        (devices / name).touch()
    (devices / "nvidia-caps").mkdir()
    with_gpu = _device_folder(["--size", "9"], cuda=True, devices=devices)
    bound = [with_gpu[i + 1] for i, flag in enumerate(with_gpu) if flag == "--dev-bind"]
    gpu_nodes = ("nvidia-caps", "nvidia-uvm", "nvidia0", "nvidiactl")
    assert bound == [str(devices / name) for name in gpu_nodes]
    for argv in (with_gpu, _device_folder([], cuda=False, devices=devices)):
        assert argv[:2] == ["--dev", "/dev"]
        assert argv[-4:] == ["--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    assert "--dev-bind" not in _device_folder([], cuda=False, devices=devices)
    assert with_gpu[-6:-4] == ["--size", "9"]


@needs_namespaces
@pytest.mark.parametrize("cuda", [False, True])
def test_the_host_devices_stay_out_of_the_sandbox(tmp_path: Path, cuda: bool) -> None:
    """Not the host's /dev, even for a GPU contestant: its disks belong to root, and a root
    contestant without capabilities still owns them."""
    script = textwrap.dedent(
        """
        import os, pathlib
        disks = [p.name for p in pathlib.Path("/dev").iterdir() if p.is_block_device()]
        try:
            pathlib.Path("/dev/planted").write_text("x")
            stored = "stored"
        except OSError:
            stored = "refused"
        pathlib.Path("/dev/shm/x").write_text("x")
        print(disks, stored, os.statvfs("/dev/shm").f_blocks * os.statvfs("/dev/shm").f_frsize)
        """
    )
    disks, stored, shm_bytes = run_confined(tmp_path, script, cuda=cuda).rsplit(maxsplit=2)
    assert (disks, stored) == ("[]", "refused")
    assert int(shm_bytes) <= TMP_BYTES  # its own, not the host's /dev/shm


def test_probing_for_a_cgroup_leaves_no_probe_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    from quiz.lab import sandbox

    root = sandbox._cgroup_root()
    if root is None:
        pytest.skip("no pids cgroup can be made here")
    probe = root / f"probe-{os.getpid()}"
    real_write = Path.write_text

    def refuse_pids_max(path: Path, *args: object, **kwargs: object) -> int:
        if path.name == "pids.max" and path.parent == probe:
            raise OSError("refused")
        return real_write(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", refuse_pids_max)
    sandbox._cgroup_root.cache_clear()
    try:
        sandbox._cgroup_root()
    finally:
        sandbox._cgroup_root.cache_clear()
    assert not probe.exists()
