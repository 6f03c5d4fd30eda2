"""The grading worker: ``python -m quiz.lab.worker``, started by quiz.lab.runner.

It reads one JSON request on stdin, then writes JSON lines to the result channel, a file
descriptor the runner passed in (never stdout, which the submission shares):
``{"log": msg}`` for progress, ``{"ready": true}`` once the lab is set up (after that, a crash is
the submission's), then ``{"result": {...}, "nonce": ...}``, or ``{"lab_error": reason, ...}``
when the lab itself cannot run.
"""

from __future__ import annotations

import faulthandler
import importlib.abc
import importlib.util
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import IO, Any

_DEFAULT_MEMORY_FRACTION = 0.5


class _Channel:
    def __init__(self, fd: int, nonce: str) -> None:
        self._stream: IO[str] = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._nonce = nonce

    def send(self, **message: Any) -> None:
        message["nonce"] = self._nonce
        self._stream.write(json.dumps(message, default=str) + "\n")
        self._stream.flush()


def main() -> int:
    request = json.loads(sys.stdin.read())
    sys.stdin.close()
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    channel = _Channel(int(request["channel_fd"]), str(request["nonce"]))
    faulthandler.enable()
    started = time.perf_counter()
    try:
        setup = _set_up(request, channel)
    except Exception as err:  # the lab itself is broken: not the submission's fault
        traceback.print_exc()
        channel.send(lab_error=f"{type(err).__name__}: {err}")
        return 0
    channel.send(ready=True)
    result = _grade(setup, channel)
    result["duration_s"] = round(time.perf_counter() - started, 3)
    channel.send(result=result)
    return 0


class _ModelSolutionBlocker(importlib.abc.MetaPathFinder):
    """A user's submission may import the practical's support modules, but not its model
    solution or its negative controls (they sit in the same folder on sys.path)."""

    HIDDEN = ("reference", "controls")

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] in self.HIDDEN:
            raise ImportError(f"the practical's {fullname!r} module is off limits to submissions")
        return None


def _set_up(request: dict[str, Any], channel: _Channel) -> dict[str, Any]:
    import torch

    from quiz.lab.api import GradeContext, PracticalSpec
    from quiz.lab.device import environment_stamp, grading_threads
    from quiz.lab.guard import Guard
    from quiz.lab.harness import Harness

    practical_dir = Path(request["practical_dir"])
    submission_dir = Path(request["submission_dir"])
    spec = PracticalSpec.model_validate(request["spec"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(grading_threads())
        _limit_memory(spec.memory_limit_mb)
    sys.path.insert(0, str(practical_dir))
    sys.path.append(str(submission_dir))
    if request.get("hide_model_solutions", True):
        sys.meta_path.insert(0, _ModelSolutionBlocker())
    grader = _import_file(practical_dir / "grader.py", "grader")
    guard = Guard()
    guard.snapshot(practical_dir)
    seed = int.from_bytes(os.urandom(8), "little")
    ctx = GradeContext(
        practical=spec,
        practical_dir=practical_dir,
        submission_dir=submission_dir,
        seed=seed,
        user_seed=_user_seed(submission_dir),
        device=device,
        harness=Harness(device, seed=seed),
        log_sink=lambda message: channel.send(log=str(message)),
        verify_untampered=guard.verify,
    )
    return {"ctx": ctx, "grader": grader, "guard": guard, "stamp": environment_stamp(device)}


def _grade(setup: dict[str, Any], channel: _Channel) -> dict[str, Any]:
    from quiz.lab.api import Check, SubmissionError

    ctx = setup["ctx"]
    error: str | None = None
    checks: list[Check] = []
    try:
        checks = list(setup["grader"].grade(ctx))
        setup["guard"].verify()
    except SubmissionError as err:
        error = str(err)
    except SystemExit as err:
        error = f"the submission called sys.exit({err.code!r}); grading stopped"
    except MemoryError:
        error = "ran out of memory (MemoryError): the submission allocates too much"
    except Exception as err:
        traceback.print_exc()
        error = f"{type(err).__name__}: {err}"
    if error is not None:
        checks, score, passed = [], 0.0, False
    else:
        score = sum(c.passed for c in checks) / len(checks) if checks else 0.0
        passed = bool(checks) and all(c.passed for c in checks)
        if not checks:
            error = "the grader returned no checks"
    return {
        "id": ctx.practical.id,
        "passed": passed,
        "score": round(score, 4),
        "device": setup["stamp"],
        "checks": [c.to_dict() for c in checks],
        "details": ctx.details,
        "error": error,
    }


def _import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _user_seed(submission_dir: Path) -> int:
    try:
        data = json.loads((submission_dir / ".practical.json").read_text(encoding="utf-8"))
        return int(data.get("seed", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def _limit_memory(limit_mb: int | None) -> None:
    """Cap the address space so a runaway allocation raises MemoryError instead of pulling the
    machine into swap. CPU only: CUDA reserves huge virtual ranges and would not start."""
    if limit_mb is None:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        budget = int(total * _DEFAULT_MEMORY_FRACTION)
    else:
        budget = limit_mb * 2**20
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            in_use = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # no /proc (macOS): the address space is not measured, so leave it alone
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = in_use + budget
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


if __name__ == "__main__":
    sys.exit(main())
