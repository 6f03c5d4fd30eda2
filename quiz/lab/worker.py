"""The referee: ``python -m quiz.lab.worker``, started by quiz.lab.runner.

It reads one JSON request on stdin, loads the practical's grader (trusted) and grades; the code
under test runs only in contestant processes the grader starts through the grade context
(quiz.lab.referee), never here. It writes JSON lines to the result channel, a file descriptor the
runner passed in: ``{"log": msg}`` for progress, ``{"ready": true, "device": stamp}`` once the
lab is set up (the stamp also for a grade stopped before its result), ``{"stuck": text}`` shortly
before the time limit (where the submission's code is running), then ``{"result": {...}}``, or
``{"lab_error": reason}`` when the lab itself cannot run.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib.util
import json
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quiz.lab.api import GradeContext

_DEFAULT_MEMORY_FRACTION = 0.5
_CPU_SECONDS_SLACK = 60
_ORPHAN_SWEEPS = 20
_STUCK_REPORT_LEAD_S = 3.0  # before the time limit: to read where the submission is running


class _Channel:
    def __init__(self, fd: int, nonce: str) -> None:
        self._stream: IO[str] = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._nonce = nonce
        self._lock = threading.Lock()  # the grade and the time-out report both send

    def send(self, **message: Any) -> None:
        message["nonce"] = self._nonce
        line = json.dumps(message, default=str) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()


def main() -> int:
    request = json.loads(sys.stdin.read())
    sys.stdin.close()
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    channel = _Channel(int(request["channel_fd"]), str(request["nonce"]))
    _not_dumpable()
    _adopt_orphans()
    faulthandler.enable()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="referee-", dir=request.get("scratch")) as scratch:
        try:
            setup = _set_up(request, channel, Path(scratch))
        except Exception as err:  # the lab itself is broken: not the submission's fault
            traceback.print_exc()
            channel.send(lab_error=f"{type(err).__name__}: {err}")
            return 0
        channel.send(ready=True, device=setup["stamp"])
        report = _report_where_stuck(float(request["deadline"]), setup["ctx"], channel)
        try:
            result = _grade(setup)
            result["contestant_log"] = {
                f"{c.role}-{i}": c.log_tail() for i, c in enumerate(setup["ctx"].contestants)
            }
        finally:
            report.cancel()
            setup["ctx"].close_contestants()
            _kill_adopted_orphans()
    result["duration_s"] = round(time.perf_counter() - started, 3)
    channel.send(result=result)
    return 0


def _report_where_stuck(deadline: float, ctx: GradeContext, channel: _Channel) -> threading.Timer:
    """A timer that, shortly before the runner stops the grade for its time limit, tells the
    runner where the submission's code is running, for the time-out's message."""

    def report() -> None:
        from quiz.lab.referee import with_frames

        running = [c for c in list(ctx.contestants) if not c.closed]
        parts = [with_frames("", c.running_frames(), c.role) for c in running]
        if reported := [part for part in parts if part]:
            channel.send(stuck="\n".join(reported))

    timer = threading.Timer(max(0.0, deadline - _STUCK_REPORT_LEAD_S - time.monotonic()), report)
    timer.daemon = True
    timer.start()
    return timer


def _set_up(request: dict[str, Any], channel: _Channel, scratch: Path) -> dict[str, Any]:
    import torch

    from quiz.lab.api import GradeContext, PracticalSpec
    from quiz.lab.device import cores_by_idleness, environment_stamp, grading_threads
    from quiz.lab.harness import Harness
    from quiz.lab.referee import ContestantOptions
    from quiz.lab.sandbox import sandbox_level

    practical_dir = Path(request["practical_dir"])
    submission_dir = Path(request["submission_dir"])
    spec = PracticalSpec.model_validate(request["spec"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = grading_threads(spec.max_threads)
    torch.set_num_threads(threads)
    sys.path.insert(0, str(practical_dir))
    grader = _import_file(practical_dir / "grader.py", "grader")
    level = request.get("sandbox") or sandbox_level().level
    options = ContestantOptions(
        practical_dir=practical_dir,
        public_files=tuple(dict.fromkeys(["README.md", *spec.workspace_files, *spec.public])),
        submission=submission_dir / "solution.py",
        scratch_root=scratch,
        hidden=tuple(Path(p) for p in request.get("hidden", [])),
        threads=threads,
        cuda=device.type == "cuda",
        memory_budget=_memory_budget(spec.memory_limit_mb),
        cpu_seconds=int(spec.time_limit_s * threads) + _CPU_SECONDS_SLACK,
        sandbox_level=level,
        trusted_extras=tuple(request.get("trusted_extras", [])),
        core_order=cores_by_idleness(),
    )
    seed = int.from_bytes(os.urandom(8), "little")
    ctx = GradeContext(
        practical=spec,
        practical_dir=practical_dir,
        seed=seed,
        device=device,
        harness=Harness(device, seed=seed),
        log_sink=lambda message: channel.send(log=str(message)),
        contestant_options=options,
    )
    stamp = environment_stamp(device)
    stamp["sandbox"] = level
    stamp["contestant_cores"] = list(options.cores_for() or [])
    return {"ctx": ctx, "grader": grader, "stamp": stamp}


def _grade(setup: dict[str, Any]) -> dict[str, Any]:
    from quiz.lab.api import Check, SubmissionError

    ctx = setup["ctx"]
    error: str | None = None
    checks: list[Check] = []
    try:
        checks = list(setup["grader"].grade(ctx))
    except SubmissionError as err:
        error = str(err)
    except Exception as err:  # a grader bug, or a reply of a shape the grader did not expect
        traceback.print_exc()
        error = f"grading stopped: {type(err).__name__}: {err}"
    if error is None and not checks:
        error = "the grader returned no checks"
    if error is not None:
        checks = []
    score = sum(c.passed for c in checks) / len(checks) if checks else 0.0
    passed = bool(checks) and all(c.passed for c in checks)
    inconclusive = (
        not passed
        and any(c.inconclusive for c in checks)
        and all(c.passed or c.inconclusive for c in checks)
    )
    result = {
        "id": ctx.practical.id,
        "passed": passed,
        "inconclusive": inconclusive,
        "score": round(score, 4),
        "device": setup["stamp"],
        "checks": [c.to_dict() for c in checks],
        "details": ctx.details,
        "error": error,
    }
    if passed and ctx.revealed:
        result["details"]["answer"] = ctx.revealed
    return result


def _not_dumpable() -> None:
    """Make this process's /proc entries (memory, file descriptors, environment) unreadable to
    other processes of the same user, contestants included, where bubblewrap is not there to
    hide it."""
    import ctypes

    pr_set_dumpable = 4
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0)


def _adopt_orphans() -> None:
    """Become the child subreaper: a process a contestant detaches (fork, setsid, parent exits)
    is reparented to this process instead of init, so it can be found and stopped. Bubblewrap's
    PID namespace does the same for the sandboxed level; this covers the rlimits level."""
    import ctypes

    pr_set_child_subreaper = 36
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1)


def _kill_adopted_orphans() -> None:
    """Kill what is left of the contestants once they are closed: every remaining child of this
    process is one they detached (and what those start is adopted in turn)."""
    for _ in range(_ORPHAN_SWEEPS):
        orphans = _children(os.getpid())
        if not orphans:
            return
        for pid in orphans:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in orphans:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            found.append(int(entry))
    return found


def _import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _memory_budget(limit_mb: int | None) -> int:
    """Bytes a contestant may allocate on top of what it uses once torch is loaded."""
    if limit_mb is not None:
        return limit_mb * 2**20
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(total * _DEFAULT_MEMORY_FRACTION)


if __name__ == "__main__":
    sys.exit(main())
