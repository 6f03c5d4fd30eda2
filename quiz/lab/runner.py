"""Grade a submission in a worker subprocess (no torch in this process).

The worker runs in its own process group with the practical's time limit; its stdout and stderr
are captured (the tail is kept), its progress lines are streamed to ``on_log``, and its result
arrives on a private pipe tagged with a per-run nonce, so a submission printing JSON cannot
forge a result. Whatever the submission does (hang, raise, exit, segfault, exhaust memory,
print garbage) the call returns a failed ``LabResult`` with a reason; ``LabError`` is raised
only when the lab itself cannot run.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from quiz import config
from quiz.errors import LabError, UsageError
from quiz.lab.api import Check
from quiz.lab.catalog import Practical, get_practical

LogCallback = Callable[[str], None]

_LOG_TAIL_LINES = 60
_MAX_LINE_CHARS = 2000
_MAX_STUCK_CHARS = 8000
_DRAIN_TIMEOUT_S = 3.0
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LabResult:
    id: str
    passed: bool
    score: float
    duration_s: float
    device: dict[str, Any]
    checks: list[Check]
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    log_tail: list[str] = field(default_factory=list)
    # Not passed, but only because the evidence could not decide: rerun on a quieter machine.
    inconclusive: bool = False

    @property
    def verdict(self) -> str:
        if self.passed:
            return "passed"
        return "inconclusive" if self.inconclusive else "failed"

    def to_dict(self) -> dict[str, Any]:
        """The result JSON of the lab contract."""
        return {
            "id": self.id,
            "passed": self.passed,
            "inconclusive": self.inconclusive,
            "verdict": self.verdict,
            "score": self.score,
            "duration_s": self.duration_s,
            "device": self.device,
            "checks": [c.to_dict() for c in self.checks],
            "details": self.details,
            "error": self.error,
            "log_tail": self.log_tail,
        }


def grade_practical(
    practical_id: str,
    target: Path,
    *,
    source: str,
    on_log: LogCallback | None = None,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
    sandbox: str | None = None,
) -> LabResult:
    """Grade ``target`` (a folder holding solution.py, or a single .py file) for a practical.

    ``source`` says what is graded ("workspace", "reference", "starter", "control:NAME", "path").
    The code runs only in sandboxed contestant processes (docs/lab.md); ``sandbox`` forces a
    level ("rlimits") instead of the best this machine has. ``on_log`` is called in this thread
    with each progress line.
    ``cancel`` (set from another thread) stops the worker; the result then says so.
    """
    practical = get_practical(practical_id)
    if not practical.availability.available:
        raise LabError(f"{practical_id}: {practical.availability.reason}")
    with tempfile.TemporaryDirectory(prefix="latency-quiz-grade-") as scratch:
        submission_dir = _submission_dir(practical, Path(target), Path(scratch))
        limit = timeout_s if timeout_s is not None else practical.spec.time_limit_s
        if on_log is not None:
            on_log(f"grading {practical_id} ({source}), the code sandboxed, time limit {limit:g} s")
        run = _WorkerRun(
            practical,
            submission_dir,
            Path(scratch),
            limit,
            on_log,
            cancel,
            _hidden_paths(practical, submission_dir),
            sandbox,
        )
        # The practical's own negative controls may build on its model solution.
        run.trusted_extras = ["reference.py"] if source.startswith("control:") else []
        return run.run()


def _submission_dir(practical: Practical, target: Path, scratch: Path) -> Path:
    """The folder the worker grades: ``target`` itself, or a scratch copy of a single file with
    the practical's workspace files (those beside the file win, as in a workspace)."""
    if target.is_dir():
        if not (target / "solution.py").is_file():
            raise UsageError(f"{target} has no solution.py")
        return target
    if not target.is_file() or target.suffix != ".py":
        raise UsageError(f"{target} is neither a folder with solution.py nor a .py file")
    folder = scratch / "submission"
    folder.mkdir()
    shutil.copyfile(target, folder / "solution.py")
    for name in practical.spec.workspace_files:
        beside_file = target.parent / Path(name).name
        source = beside_file if beside_file.is_file() else practical.file(name)
        shutil.copyfile(source, folder / Path(name).name)
    beside = target.parent / ".practical.json"
    if beside.is_file():
        shutil.copyfile(beside, folder / ".practical.json")
    else:
        seed = secrets.randbits(31)
        (folder / ".practical.json").write_text(json.dumps({"seed": seed}), encoding="utf-8")
    return folder


class _WorkerRun:
    def __init__(
        self,
        practical: Practical,
        submission_dir: Path,
        scratch: Path,
        limit_s: float,
        on_log: LogCallback | None,
        cancel: threading.Event | None,
        hidden: list[str],
        sandbox: str | None,
    ) -> None:
        self.practical = practical
        self.submission_dir = submission_dir
        self.scratch = scratch
        self.limit_s = limit_s
        self.on_log = on_log
        self.cancel = cancel
        self.nonce = secrets.token_hex(16)
        self.events: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.transcript: deque[str] = deque(maxlen=_LOG_TAIL_LINES)
        self.ready = False
        self.device: dict[str, Any] = {}  # the referee's environment stamp, once it is ready
        self.hidden = hidden
        self.sandbox = sandbox
        self.trusted_extras: list[str] = []
        self.result: dict[str, Any] | None = None
        self.lab_error: str | None = None
        self.deadline = 0.0
        self.stuck = ""  # where the submission was running shortly before the time limit

    def run(self) -> LabResult:
        started = time.monotonic()
        self.deadline = started + self.limit_s
        read_fd, write_fd = os.pipe()
        workdir = self.scratch / "cwd"
        workdir.mkdir()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "quiz.lab.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
                cwd=workdir,
                env=_worker_env(),
            )
        except OSError as err:
            os.close(read_fd)
            raise LabError(f"cannot start the lab worker: {err}") from err
        finally:
            os.close(write_fd)
        readers = [
            self._reader(os.fdopen(read_fd, "rb"), "channel"),
            self._reader(proc.stdout, "stdout"),
            self._reader(proc.stderr, "stderr"),
        ]
        assert proc.stdin is not None
        try:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(json.dumps(self._request(write_fd)).encode())
                proc.stdin.close()
            stop_reason = self._pump(proc)
        finally:  # whatever happens here (an on_log that raises, Ctrl-C), the worker goes
            _kill_group(proc)
            proc.wait()
        for reader in readers:
            reader.join(_DRAIN_TIMEOUT_S)
        self._drain()
        duration = round(time.monotonic() - started, 3)
        return self._finish(proc.returncode, stop_reason, duration)

    def _request(self, channel_fd: int) -> dict[str, Any]:
        return {
            "channel_fd": channel_fd,
            "nonce": self.nonce,
            "practical_dir": str(self.practical.dir),
            "submission_dir": str(self.submission_dir),
            "spec": self.practical.spec.model_dump(),
            "scratch": str(self.scratch),
            "hidden": self.hidden,
            "sandbox": self.sandbox,
            "trusted_extras": self.trusted_extras,
            "deadline": self.deadline,  # time.monotonic() is the same clock in every process
        }

    def _pump(self, proc: subprocess.Popen[bytes]) -> str:
        """Relay events until the worker exits; returns why it stopped early ('' if it did not)."""
        while True:
            with contextlib.suppress(queue.Empty):
                self._handle(*self.events.get(timeout=0.1))
            if proc.poll() is not None:
                return ""
            if self.result is not None or self.lab_error is not None:
                # The result is in: give the worker a moment to exit on its own.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=_DRAIN_TIMEOUT_S)
                return ""
            if self.cancel is not None and self.cancel.is_set():
                return "grading was cancelled"
            if time.monotonic() > self.deadline:
                reason = (
                    f"time limit of {self.limit_s:g} s exceeded; the worker was stopped "
                    "(does the submission hang or run far too slowly?)"
                )
                return f"{reason}\n{self.stuck}" if self.stuck else reason

    def _drain(self) -> None:
        while True:
            try:
                self._handle(*self.events.get_nowait())
            except queue.Empty:
                return

    def _handle(self, kind: str, line: str | None) -> None:
        if line is None:
            return
        if kind != "channel":
            self.transcript.append(f"[{kind}] {line}")
            return
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("nonce") != self.nonce:
            return
        if "log" in message:
            text = str(message["log"])[:_MAX_LINE_CHARS]
            self.transcript.append(text)
            if self.on_log is not None:
                self.on_log(text)
        elif message.get("ready"):
            self.ready = True
            device = message.get("device")
            self.device = device if isinstance(device, dict) else {}
        elif "stuck" in message:
            self.stuck = str(message["stuck"])[:_MAX_STUCK_CHARS]
        elif "lab_error" in message:
            self.lab_error = str(message["lab_error"])
        elif isinstance(message.get("result"), dict) and self.result is None:
            self.result = message["result"]

    def _reader(self, stream: IO[bytes] | None, kind: str) -> threading.Thread:
        def pump() -> None:
            assert stream is not None
            pending = b""
            with stream:
                while chunk := stream.read1(65536):  # type: ignore[attr-defined]
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    if kind != "channel" and len(pending) > _MAX_LINE_CHARS:
                        lines.append(pending)
                        pending = b""
                    for raw in lines:
                        self.events.put((kind, _decode(raw, kind)))
            if pending:
                self.events.put((kind, _decode(pending, kind)))

        thread = threading.Thread(target=pump, name=f"lab-{kind}", daemon=True)
        thread.start()
        return thread

    def _finish(self, returncode: int, stop_reason: str, duration: float) -> LabResult:
        if self.lab_error is not None:
            raise LabError(f"the lab could not grade {self.practical.id}: {self.lab_error}")
        tail = list(self.transcript)
        if self.result is not None and not stop_reason:
            return _result_from(self.result, self.practical.id, tail, duration)
        if not self.ready and not stop_reason:
            detail = next((t for t in reversed(tail) if t.startswith("[stderr]")), "")
            raise LabError(f"the lab worker failed to start (exit {returncode}) {detail}".strip())
        reason = stop_reason or _exit_reason(returncode)
        return LabResult(
            id=self.practical.id,
            passed=False,
            score=0.0,
            duration_s=duration,
            device=self.device,
            checks=[],
            error=reason,
            log_tail=tail,
        )


def _result_from(
    raw: dict[str, Any], practical_id: str, tail: list[str], duration: float
) -> LabResult:
    logs = raw.get("contestant_log")
    if isinstance(logs, dict):
        for name, lines in logs.items():
            if isinstance(lines, list):
                tail += [
                    f"[{str(name).rsplit('-', 1)[0]}] {str(line)[:_MAX_LINE_CHARS]}"
                    for line in lines
                ]
    try:
        checks = [Check.from_dict(c) for c in raw.get("checks", [])]
        return LabResult(
            id=practical_id,
            passed=bool(raw["passed"]),
            score=float(raw["score"]),
            duration_s=float(raw.get("duration_s", duration)),
            device=dict(raw.get("device") or {}),
            checks=checks,
            details=dict(raw.get("details") or {}),
            error=raw.get("error"),
            log_tail=tail,
            inconclusive=bool(raw.get("inconclusive", False)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise LabError(f"the lab worker sent a malformed result ({err})") from err


def _hidden_paths(practical: Practical, submission_dir: Path) -> list[str]:
    """Folders a contestant must not see: the user's home and data (their database, other
    workspaces), every practical's folder (model solutions, controls, graders), the source tree
    the lab runs from (its git history holds the same) and the submission's own folder."""
    paths = [Path.home(), config.data_dir(), practical.dir.parent, submission_dir]
    package_parent = Path(__file__).resolve().parents[2]
    if "site-packages" not in package_parent.parts and "dist-packages" not in package_parent.parts:
        paths.append(package_parent)
    # An installed copy of the bank and the practicals (a wheel's quiz/_data, which an editable
    # install carries too) lies in site-packages, which the contestant's Python must still see.
    for entry in sys.path:
        installed_data = Path(entry or os.curdir, "quiz", "_data")
        if installed_data.is_dir():
            paths.append(installed_data)
    url = config.database_url()
    if url.startswith("sqlite:///"):
        paths.append(Path(url.removeprefix("sqlite:///")).parent)
    return [str(p) for p in paths]


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        sig = signal.Signals(-returncode)
        if sig == signal.SIGSEGV:
            return "the worker crashed with SIGSEGV (a segmentation fault in native code)"
        if sig == signal.SIGKILL:
            return "the worker was killed by SIGKILL (most likely out of memory)"
        return f"the worker was stopped by {sig.name}"
    if returncode == 0:
        return "the worker exited without a result (did the submission call os._exit()?)"
    return f"the worker exited with code {returncode} without a result"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the worker's process group, including anything the submission spawned."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _decode(raw: bytes, kind: str) -> str:
    text = raw.decode("utf-8", errors="replace").rstrip("\r")
    return text if kind == "channel" else text[:_MAX_LINE_CHARS]


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The worker must import this very quiz package, even when it is not installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env
