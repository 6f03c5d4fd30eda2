"""The referee's side of a contestant: start it in the sandbox, call its endpoints, measure it.

Everything here runs in the referee (``quiz.lab.worker``), the trusted process. A contestant's
replies are decoded as plain data only; its memory and CPU time are read from ``/proc`` over its
whole process tree, never asked of it.

A contestant started ``frozen`` is stopped (SIGSTOP to each of its processes, confirmed from
``/proc``) whenever it is not being called: its next request is staged in shared memory while it
cannot look, a timed call ends when it has been stopped again on its reply (so no work can go on
after the clock), and the tensors of its reply are then read from its memory by the referee.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Set
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from stat import S_ISFIFO, S_ISREG, S_ISSOCK
from typing import Any

from quiz.lab import channel
from quiz.lab.api import SubmissionError
from quiz.lab.contestant import BOOT, MAX_FRAMES, STACK_DUMP_FILE
from quiz.lab.sandbox import confine, release_cgroup

_QUIZ_PARENT = Path(__file__).resolve().parents[2]
_QUIZ_PACKAGE = Path(__file__).resolve().parents[1]
_F_SETPIPE_SZ = 1031
_PIPE_BYTES = 1 << 20
_START_TIMEOUT_S = 120.0
_MAX_REPLY_BYTES = 4 << 30
_LOG_TAIL = 20
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_SIGNALS = {int(s) for s in signal.Signals}
_SYS_PIDFD_GETFD = 438  # the same number on x86_64 and aarch64 (asm-generic)
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.process_vm_readv.restype = ctypes.c_ssize_t
_STOPPED_STATES = frozenset("TtZX")  # stopped, traced, or gone
_FREEZE_TIMEOUT_S = 5.0
_STACK_DUMP_WAIT_S = 1.0
_DUMP_HEADER = re.compile(r"(Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):")
_DUMPED_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')
_DUMP_WRITTEN_S = 0.05  # a dump is written at once, in the signal handler
_MAX_TEXT_BYTES = 1 << 22  # of a stack dump or a source file read for a time-out's message


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


class Refused(Exception):
    """A contestant's question the referee will not answer, with the reason it is given."""


# Given a timed call's inputs, a fresh answerer for the questions that call asks: see
# ``Contestant.remote``.
Answerer = Callable[[Any], Callable[[Any], Any]]


@dataclass(frozen=True)
class ProcessMemory:
    """Bytes held by a contestant's process tree, read from /proc by the referee."""

    rss: int
    uss: int
    peak_rss: int

    def to_dict(self) -> dict[str, int]:
        return {"rss": self.rss, "uss": self.uss, "peak_rss": self.peak_rss}


def counted_from(held: int, baseline: int, allowance: int) -> int:
    """What a contestant's memory is counted from: what it ``held`` before the measured work,
    but never more than the baseline's process (the same driver) held at that point plus
    ``allowance``, so memory set aside earlier (at import, or in an earlier call) and used by
    the work counts as held by it."""
    return min(held, baseline + allowance)


@dataclass(frozen=True)
class ContestantOptions:
    """What the referee knows when it starts contestants for one grade."""

    practical_dir: Path
    public_files: tuple[str, ...]
    submission: Path  # the graded solution.py
    scratch_root: Path
    hidden: tuple[Path, ...]
    threads: int
    cuda: bool
    memory_budget: int | None
    cpu_seconds: int
    sandbox_level: str | None = None
    # Files of the practical a candidate may import on top of the public ones: the model
    # solution, when what is graded is one of the practical's own negative controls.
    trusted_extras: tuple[str, ...] = ()
    # The cores, idlest first; a contestant is pinned to the first ``threads`` of them (or as
    # many as it asks for), so every contestant of a grade runs on the same core(s).
    core_order: tuple[int, ...] = ()

    def cores_for(self, count: int | None = None) -> tuple[int, ...] | None:
        wanted = max(1, count or self.threads)
        return self.core_order[:wanted] if len(self.core_order) >= wanted else None


class Contestant:
    """One contestant process and its two pipes."""

    def __init__(self, role: str, proc: subprocess.Popen[bytes], request_fd: int, reply_fd: int,
                 log_path: Path, scratch: Path) -> None:  # fmt: skip
        self.role = role
        self._proc = proc
        self._request_fd = request_fd
        self._reply_fd = reply_fd
        self._log_path = log_path
        self._scratch = scratch
        self.endpoints: list[str] = []
        self.closed = False
        self._started = False
        self.arena: channel.Arena | None = None
        self.cgroup: Path | None = None
        # Processes of the sandbox itself above the contestant's own: bubblewrap and the PID
        # namespace's init at the namespaces level, none at the rlimits level.
        self.wrapper_depth = 0
        self.frozen = False  # stopped between calls (see the module docstring)
        self._stopped: list[int] = []
        self._wrappers: set[int] = set()
        self._main_pid = proc.pid
        self.runs_submission = False  # the graded code, not one of the practical's own files

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def workdir(self) -> Path:
        """The contestant's scratch working folder (the same path inside its sandbox): where a
        grader may put a Unix socket to serve it, since it has no network of its own
        (serve-and-profile's inference server)."""
        return self._scratch / "work"

    def call(
        self,
        endpoint: str,
        *args: Any,
        timeout_s: float | None = None,
        on_ask: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Call ``endpoint(*args)`` in the contestant; its plain-data reply, or SubmissionError.
        ``on_ask(question)`` answers what the contestant asks during the call (see
        ``contestant.ask_referee``); it raises ``Refused`` to refuse one. Without it a question
        is a malformed reply."""
        return self.prepare(endpoint, *args, timeout_s=timeout_s, on_ask=on_ask).run_and_result()

    def prepare(
        self,
        endpoint: str,
        *args: Any,
        timeout_s: float | None = None,
        on_ask: Callable[[Any], Any] | None = None,
    ) -> PreparedCall:
        """The call ``call`` makes, not yet sent: ``run()`` is what a timer brackets, ``result()``
        the reply. A frozen contestant's request is encoded here, its large tensors put in the
        arena while it cannot look; a running one's only in ``run()``, since it could start on
        inputs staged before the clock."""
        self.wait_started()
        if self.closed:
            raise SubmissionError(f"the {self.role} process has already stopped")
        if on_ask is not None and self.frozen:
            raise ValueError("a frozen contestant's calls cannot ask the referee questions")
        request = {"call": endpoint, "args": list(args)}
        return PreparedCall(self, endpoint, request, timeout_s, on_ask)

    def _encode(self, request: dict[str, Any]) -> channel.Encoded:
        return channel.encode(request, self.arena, region=0)

    def _exchange(
        self,
        encoded: channel.Encoded,
        deadline: float | None,
        on_ask: Callable[[Any], Any] | None,
    ) -> Any:
        """Send a request and wait for its reply: decoded, or for a frozen contestant the raw
        frame, read once it has been stopped again."""
        self._thaw()
        channel.write_frame(self._request_fd, encoded)
        while True:
            header, payload = channel.read_frame(
                self._reply_fd, deadline=deadline, max_payload=_MAX_REPLY_BYTES
            )
            if self.frozen:
                self._freeze()
                return header, payload
            reply = channel.decode(header, payload, self.arena, region=1)
            if on_ask is None or not (isinstance(reply, dict) and set(reply) == {"ask"}):
                return reply
            try:
                answer = {"answer": on_ask(reply["ask"])}
            except Refused as refusal:
                answer = {"refused": str(refusal)}
            channel.send(self._request_fd, answer)

    def _decode_frozen_reply(self, frame: tuple[bytes, bytearray]) -> Any:
        header, payload = frame
        return channel.decode(
            header,
            payload,
            self.arena,
            region=1,
            read_memory=self._read_memory,
            max_bytes=_MAX_REPLY_BYTES,
        )

    def _read_memory(self, address: int, nbytes: int) -> bytearray:
        """``nbytes`` at ``address`` in the contestant's main process (stopped)."""
        buffer = bytearray(nbytes)
        base = ctypes.addressof((ctypes.c_char * nbytes).from_buffer(buffer))
        done = 0
        while done < nbytes:
            local = _IoVec(base + done, nbytes - done)
            remote = _IoVec(address + done, nbytes - done)
            count = _LIBC.process_vm_readv(
                self._main_pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0
            )
            if count <= 0:
                errno = ctypes.get_errno()
                why = (
                    "this machine does not let the grader read its contestants' memory (ptrace "
                    "is restricted: see kernel.yama.ptrace_scope)"
                    if errno == 1  # EPERM
                    else f"a reply tensor points at memory the process cannot give "
                    f"({os.strerror(errno) if errno else 'nothing read'})"
                )
                raise channel.ChannelError(why)
            done += count
        return buffer

    def _freeze(self) -> None:
        """Stop every process of the contestant and wait until /proc shows each thread stopped;
        processes it started meanwhile are stopped too."""
        deadline = time.monotonic() + _FREEZE_TIMEOUT_S
        stopped: set[int] = set(self._stopped)
        while True:
            new = [pid for pid in self._own_processes() if pid not in stopped]
            if not new:
                break
            for pid in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                stopped.add(pid)
            while not all(_all_threads_stopped(pid) for pid in new):
                if time.monotonic() > deadline:
                    raise channel.ChannelError("a process did not stop when asked")
                time.sleep(0.00005)
        self._stopped = list(stopped)

    def _thaw(self) -> None:
        for pid in self._stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._stopped = []

    def _own_processes(self) -> list[int]:
        """The contestant's processes: its process tree, and its cgroup's where it has one. Each
        alone can miss one: at the rlimits level a root contestant can move a process to another
        cgroup, and a process that is not stopped can start a child between two reads of the
        tree (the freeze reads again until it finds no new one)."""
        pids = set(self._tree())
        if self.cgroup is not None:
            with contextlib.suppress(OSError, ValueError):
                members = (self.cgroup / "cgroup.procs").read_text().split()
                pids.update(int(pid) for pid in members if int(pid) not in self._wrappers)
        return sorted(pids)

    def remote(
        self,
        endpoint: str,
        answerer: Answerer | None = None,
        send: Callable[[Any], Any] | None = None,
    ) -> RemoteEndpoint:
        """``fn(inputs)`` calling ``endpoint(inputs)``: what the harness times (its
        ``prepare`` keeps the request's encoding out of the timed call). Each call's questions
        go to a fresh ``answerer(inputs)``; with ``send``, the call is ``endpoint(send(inputs))``
        (the rest of the inputs are the answerer's to hand out)."""
        return RemoteEndpoint(self, endpoint, answerer, send)

    def wait_started(self) -> None:
        """Wait for the driver to have built its endpoints (SubmissionError if it failed)."""
        if self._started:
            return
        self._started = True
        deadline = time.monotonic() + _START_TIMEOUT_S
        try:
            reply = channel.receive(self._reply_fd, deadline=deadline, max_payload=_MAX_REPLY_BYTES)
        except channel.ChannelTimeout:
            where = self.running_frames()
            self.close()
            message = f"the {self.role} process did not start within {_START_TIMEOUT_S:g} s"
            raise SubmissionError(with_frames(message, where)) from None
        except channel.ChannelError as err:
            raise SubmissionError(self._death_reason(str(err))) from None
        if not isinstance(reply, dict) or reply.get("ok") is not True:
            error = reply.get("error") if isinstance(reply, dict) else None
            self.close()
            raise SubmissionError(format_error(error, f"starting the {self.role}"))
        endpoints = reply.get("endpoints")
        self.endpoints = [str(e) for e in endpoints] if isinstance(endpoints, list) else []
        if self.frozen:
            self._wrappers, self._main_pid = self._sandbox_processes()
            try:
                self._freeze()
            except channel.ChannelError as err:
                raise SubmissionError(self._death_reason(str(err))) from None

    def memory(self, *, settle: bool = True) -> ProcessMemory:
        """What the process tree holds now; ``settle`` first asks it to collect garbage and trim
        its heap (so freed memory is not counted against it)."""
        if settle:
            self.call("__settle__")
        rss = uss = peak = 0
        pids = self._tree()
        stored, file_systems = _stored_bytes(pids, self._scratch)
        arena = {_file_key(os.fstat(self.arena.fd))} if self.arena is not None else set()
        channel_pipes = {_file_key(os.fstat(fd)) for fd in (self._request_fd, self._reply_fd)}
        held, counted = _held_files_bytes(pids, file_systems, arena | channel_pipes)
        stored += held
        for pid in pids:
            status = _status_fields(pid)
            rss += status.get("VmRSS", 0)
            peak += status.get("VmHWM", 0)
            uss += _private_bytes(pid, file_systems, counted | arena)
        return ProcessMemory(rss + stored, uss + stored, peak + stored)

    def reset_peak(self) -> None:
        for pid in self._tree():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def cpu_seconds(self, pids: list[int] | None = None) -> float:
        """CPU time (user + system) its process tree has used; ``pids`` (from ``processes()``)
        skips the scan of /proc, for reading it often."""
        total = 0
        for pid in self._tree() if pids is None else pids:
            fields = _stat_fields(pid)
            if fields:
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / _CLK_TCK

    def reaped_cpu_seconds(self, pids: list[int]) -> float:
        """CPU time of children that ``pids`` have waited for (they no longer show in /proc)."""
        total = 0
        for pid in pids:
            fields = _stat_fields(pid)
            if fields:
                total += int(fields[13]) + int(fields[14])  # cutime, cstime
        return total / _CLK_TCK

    def processes(self) -> list[int]:
        """The pids of its process tree now."""
        return self._tree()

    def running_frames(self) -> list[dict[str, Any]]:
        """Where the contestant's own code (``solution.py``, the practical's public modules) is
        running now, innermost last, from the Python stacks its main process writes on SIGUSR1
        (``contestant.main``); empty when no dump comes within a second or none of its frames
        is in the contestant's folder, or it runs one of the practical's own files (whose lines
        the user must not see). For a time-out's message: the dump comes from the contestant, so
        it is trusted no more than the rest of its output."""
        if not self.runs_submission:
            return []
        dump = self.workdir / STACK_DUMP_FILE
        earlier = len(_small_file_text(dump))  # dumps are appended: read only the one asked for
        try:
            os.kill(self._sandbox_processes()[1], signal.SIGUSR1)
        except OSError:
            return []
        deadline = time.monotonic() + _STACK_DUMP_WAIT_S
        text = ""
        while time.monotonic() < deadline:  # until the dump has come and stopped growing
            time.sleep(_DUMP_WRITTEN_S)
            now = _small_file_text(dump)[earlier:]
            if now and now == text:
                break
            text = now
        return _own_frames(dumped_stacks(text), self.workdir)

    def log_tail(self) -> list[str]:
        try:
            with self._log_path.open("rb") as log:
                lines = deque(log, maxlen=_LOG_TAIL)
        except OSError:
            return []
        return [line.decode("utf-8", "replace").rstrip() for line in lines]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fd in (self._request_fd, self._reply_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        if self.cgroup is not None:
            release_cgroup(self.cgroup)
        if self.arena is not None:
            self.arena.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _unwrap(self, reply: Any, endpoint: str) -> Any:
        if not isinstance(reply, dict) or "ok" not in reply:
            raise SubmissionError(f"{endpoint}(): the {self.role} process sent a malformed reply")
        if reply["ok"] is True:
            return reply.get("value")
        raise SubmissionError(call_error(reply.get("error"), endpoint))

    def _tree(self) -> list[int]:
        """The contestant's processes, bubblewrap's own left out: those are told by their place
        in the tree (the process the referee started and the PID namespace's init below it),
        never by a name, which any process can give itself."""
        return [pid for pid, depth in self._scan() if depth >= self.wrapper_depth]

    def _sandbox_processes(self) -> tuple[set[int], int]:
        """(the sandbox's own processes, the contestant's first process: the one that runs the
        channel, whose memory its replies' addresses refer to)."""
        scan = self._scan()
        wrappers = {pid for pid, depth in scan if depth < self.wrapper_depth}
        top = [pid for pid, depth in scan if depth == self.wrapper_depth]
        started = {pid: int((_stat_fields(pid) or ["0"] * 20)[19]) for pid in top}
        return wrappers, min(top, key=lambda pid: (started[pid], pid), default=self._proc.pid)

    def _scan(self) -> list[tuple[int, int]]:
        """(pid, depth below the process the referee started) for its whole tree."""
        return process_tree(self._proc.pid)

    def _death_reason(self, detail: str) -> str:
        code = self._proc.poll()
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(timeout=2)
        self.closed = True
        tail = "\n".join(self.log_tail()[-8:])
        if code is not None and code > 128 and code - 128 in _SIGNALS:
            code = 128 - code  # bubblewrap reports a child killed by signal N as exit 128 + N
        if code is not None and code < 0:
            sig = signal.Signals(-code).name
            why = {
                "SIGKILL": "killed by SIGKILL (out of memory, or its CPU time ran out)",
                "SIGSEGV": "crashed with SIGSEGV (a segmentation fault in native code)",
                "SIGXCPU": "stopped for using up its CPU time",
            }.get(sig, f"stopped by {sig}")
        elif code is not None:
            why = f"exited with code {code} (did the code call os._exit()?)"
        else:
            why = f"broke the channel ({detail})"
        message = f"the {self.role} process {why}"
        return f"{message}\n{tail}" if tail else message


class PreparedCall:
    """One call with its request encoded: ``run()`` sends it and waits for the reply (for a
    frozen contestant, until it is stopped again), ``result()`` then decodes the reply."""

    def __init__(
        self,
        contestant: Contestant,
        endpoint: str,
        request: dict[str, Any],
        timeout_s: float | None,
        on_ask: Callable[[Any], Any] | None,
    ) -> None:
        self._contestant = contestant
        self._endpoint = endpoint
        self._request = request
        self._encoded = contestant._encode(request) if contestant.frozen else None
        self._timeout_s = timeout_s
        self._on_ask = on_ask
        self._reply: Any = None

    def run(self) -> None:
        who = self._contestant
        deadline = None if self._timeout_s is None else time.monotonic() + self._timeout_s
        encoded = self._encoded or who._encode(self._request)
        try:
            self._reply = who._exchange(encoded, deadline, self._on_ask)
        except channel.ChannelTimeout:
            where = who.running_frames()
            who.close()
            message = (
                f"{self._endpoint}() did not answer within {self._timeout_s:g} s; the "
                f"{who.role} process was stopped"
            )
            raise SubmissionError(with_frames(message, where)) from None
        except channel.ChannelError as err:
            raise SubmissionError(who._death_reason(str(err))) from None

    def run_and_result(self) -> Any:
        self.run()
        return self.result()

    def result(self) -> Any:
        who = self._contestant
        reply = self._reply
        if who.frozen:
            try:
                reply = who._decode_frozen_reply(reply)
            except channel.ChannelError as err:
                raise SubmissionError(f"{self._endpoint}(): {err}") from None
        return who._unwrap(reply, self._endpoint)


class RemoteEndpoint:
    """A contestant's endpoint as a function of one argument, with ``prepare(inputs)`` for a
    timer that keeps the request's encoding out of what it times. With an ``answerer``, each
    call's questions (``contestant.ask_referee``) go to a fresh ``answerer(inputs)``; with
    ``send``, the endpoint gets ``send(inputs)``."""

    def __init__(
        self,
        contestant: Contestant,
        endpoint: str,
        answerer: Answerer | None = None,
        send: Callable[[Any], Any] | None = None,
    ) -> None:
        self.contestant = contestant
        self.endpoint = endpoint
        self.answerer = answerer
        self.send = send

    def __call__(self, inputs: Any) -> Any:
        return self.prepare(inputs).run_and_result()

    def prepare(self, inputs: Any) -> PreparedCall:
        argument = inputs if self.send is None else self.send(inputs)
        on_ask = None if self.answerer is None else self.answerer(inputs)
        return self.contestant.prepare(self.endpoint, argument, on_ask=on_ask)


def _all_threads_stopped(pid: int) -> bool:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True  # gone
    for task in tasks:
        try:
            stat = Path(f"/proc/{pid}/task/{task}/stat").read_bytes()
        except OSError:
            continue
        if chr(stat[stat.rindex(b")") + 2]) not in _STOPPED_STATES:
            return False
    return True


def start_contestant(
    options: ContestantOptions,
    driver: str,
    *,
    role: str,
    solution: Path,
    init: Any = None,
    cores: int | None = None,
    arena_bytes: int | None = None,
    threads: int | None = None,
    frozen: bool = False,
    loopback_tcp: bool = False,
) -> Contestant:
    """Copy the public files and ``solution`` into a fresh scratch folder and start a contestant
    there, pinned to ``cores`` cores (default: the grade's thread count), running ``threads``
    torch threads (default: the grade's), with a shared-memory arena of ``arena_bytes`` for
    large tensors (see ``channel``), ``frozen`` between calls (see the module docstring).
    Returns at once (so several start side by side); the first call waits for its driver to
    have built the endpoints."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{role}-", dir=options.scratch_root))
    workdir = scratch / "work"
    workdir.mkdir()
    extras = options.trusted_extras if role == "candidate" else ()
    # The candidate gets the user's own copy of a public file where the submission folder has
    # one (the workspace files it edits, e.g. capacity-plan's plan.yaml, are part of what is
    # graded); trusted contestants always get the practical's, and so does the driver module
    # (an older workspace copy of it may predate the endpoints it must define).
    user_folder = options.submission.parent if role == "candidate" else None
    practicals_own = (*extras, driver.partition(":")[0] + ".py")
    for name in (*options.public_files, *extras):
        source = options.practical_dir / name
        users = user_folder / Path(name).name if user_folder is not None else None
        if users is not None and name not in practicals_own and users.is_file():
            source = users
        if source.is_file():
            shutil.copyfile(source, workdir / Path(name).name)
    shutil.copyfile(solution, workdir / "solution.py")
    log_path = scratch.parent / f"{scratch.name}.log"
    command = [sys.executable, "-E", "-s", "-c", BOOT, str(_QUIZ_PARENT)]
    request_r, request_w = os.pipe()
    reply_r, reply_w = os.pipe()
    for fd in (request_w, reply_w):
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_BYTES)
    command += [str(request_r), str(reply_w), "internet" if loopback_tcp else "none"]
    confinement = confine(
        command,
        scratch=workdir,
        hidden=(*options.hidden, options.scratch_root),
        needed=_needed_paths(options.practical_dir.parent),
        listable=(_QUIZ_PARENT,),
        tcp=loopback_tcp,
        threads=threads or options.threads,
        cuda=options.cuda,
        cpu_seconds=options.cpu_seconds,
        level=options.sandbox_level,
        cpus=options.cores_for(cores),
    )
    arena = channel.Arena.create(arena_bytes) if arena_bytes else None
    passed = (request_r, reply_w) if arena is None else (request_r, reply_w, arena.fd)
    try:
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                confinement.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=passed,
                cwd=workdir,
                env=confinement.env,
                start_new_session=True,
                preexec_fn=confinement.preexec,
            )
    except BaseException:
        if arena is not None:
            arena.close()
        if confinement.cgroup is not None:
            release_cgroup(confinement.cgroup)
        raise
    finally:
        os.close(request_r)
        os.close(reply_w)
    contestant = Contestant(role, proc, request_w, reply_r, log_path, scratch)
    contestant.arena = arena
    contestant.cgroup = confinement.cgroup
    contestant.wrapper_depth = 2 if confinement.level == "namespaces" else 0
    contestant.frozen = frozen
    contestant.runs_submission = solution == options.submission
    setup = {
        "driver": driver,
        "init": init,
        "threads": threads or options.threads,
        "cuda": options.cuda,
        "memory_budget": options.memory_budget,
        "arena": None if arena is None else [arena.fd, arena.size],
        "frozen": frozen,
    }
    try:
        channel.send(request_w, setup)
    except channel.ChannelError as err:
        raise SubmissionError(contestant._death_reason(str(err))) from None
    return contestant


def format_error(error: Any, what: str) -> str:
    """A contestant's error as the user should read it: their own frames, then the exception."""
    if not isinstance(error, dict):
        return f"{what} failed"
    message = f"{what} raised {error.get('type', 'an error')}: {error.get('message', '')}"
    frames = error.get("frames")
    return _with_frame_lines(message, "Traceback (your code, innermost last):", frames)


def call_error(error: Any, endpoint: str) -> str:
    """A call's error as the user should read it, named after the user's function it went
    through first (``choose_batch_size``, which the practical's ``choose`` endpoint called), or
    after the endpoint when it never reached the user's code."""
    frames = error.get("frames") if isinstance(error, dict) else None
    first = frames[0] if isinstance(frames, list) and frames else None
    if isinstance(first, dict) and first.get("file") == "solution.py":
        return format_error(error, f"{first.get('function')}()")
    return format_error(error, f"{endpoint}()")


def with_frames(message: str, frames: list[dict[str, Any]], role: str = "") -> str:
    """A time-out's message with where the user's code was running when it was stopped (in the
    contestant ``role``, when named)."""
    where = f"In the {role} process, your code" if role else "Your code"
    return _with_frame_lines(message, f"{where} was running (innermost last):", frames)


def _with_frame_lines(message: str, heading: str, frames: Any) -> str:
    lines = [message] if message else []
    if isinstance(frames, list) and frames:
        lines.append(heading)
        for frame in frames:
            if isinstance(frame, dict):
                lines.append(
                    f'  File "{frame.get("file")}", line {frame.get("line")}, '
                    f"in {frame.get('function')}"
                )
                if frame.get("code"):
                    lines.append(f"    {frame.get('code')}")
    return "\n".join(str(line)[:500] for line in lines)


def dumped_stacks(text: str) -> list[list[dict[str, Any]]]:
    """The threads of a ``faulthandler`` dump in ``text``, each as its frames innermost last:
    ``{"path", "line", "function"}``."""
    threads: list[list[dict[str, Any]]] = []
    for line in text.splitlines():
        if _DUMP_HEADER.search(line):
            threads.append([])
        elif threads and (found := _DUMPED_FRAME.match(line)):
            frame = {
                "path": found["file"],
                "line": int(found["line"]),
                "function": found["function"],
            }
            threads[-1].insert(0, frame)
    return threads


def _own_frames(threads: list[list[dict[str, Any]]], workdir: Path) -> list[dict[str, Any]]:
    """The frames in ``workdir`` of the first thread that has any, with their source lines
    (each file read once)."""
    for frames in threads:
        own = [frame for frame in frames if Path(frame["path"]).parent == workdir][-MAX_FRAMES:]
        if own:
            names = {Path(frame["path"]).name for frame in own}
            sources = {name: _small_file_text(workdir / name).splitlines() for name in names}
            return [
                {
                    "file": Path(frame["path"]).name,
                    "line": frame["line"],
                    "function": frame["function"],
                    "code": _line(sources[Path(frame["path"]).name], frame["line"]),
                }
                for frame in own
            ]
    return []


def _line(lines: list[str], number: int) -> str:
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


def _small_file_text(path: Path) -> str:
    """The text of ``path``, a file the contestant could have replaced: "" unless it is a
    regular file (not a link, a pipe or a device) of at most ``_MAX_TEXT_BYTES``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(fd)
        if not S_ISREG(status.st_mode) or status.st_size > _MAX_TEXT_BYTES:
            return ""
        return file.read(_MAX_TEXT_BYTES).decode("utf-8", "replace")


def _needed_paths(practicals: Path) -> Iterable[Path]:
    """What the contestant's Python must still see when a hidden folder covers it: the
    interpreter's prefixes (standard library, site-packages) and the quiz package itself, but
    not the rest of a source tree, nor the ``practicals`` folder: the referee has the practical's
    own folder on its sys.path, and an installed copy lies under the prefix (a needed folder
    inside a hidden one is shown again, so that one would have shown the model solution)."""
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    paths = {*prefixes, _QUIZ_PACKAGE}
    hidden = practicals.resolve()
    for entry in sys.path:
        path = Path(entry).resolve() if entry else None
        if not path or not path.is_dir() or path == hidden or hidden in path.parents:
            continue
        if any(p in path.parents for p in prefixes):
            paths.add(path)
    return paths


def process_tree(root: int) -> list[tuple[int, int]]:
    """(pid, depth below ``root``) for ``root`` and its descendants: read down from ``root``
    through each thread's ``children`` file where the kernel has one (a few reads, however many
    processes the machine runs), else from the parent of every process in /proc."""
    children_of = _children_by_thread if _children_files() else _children_by_parent()
    found, stack = [], [(root, 0)]
    while stack:
        pid, depth = stack.pop()
        found.append((pid, depth))
        stack.extend((child, depth + 1) for child in children_of(pid))
    return found


@cache
def _children_files() -> bool:
    return Path(f"/proc/self/task/{os.getpid()}/children").exists()


def _children_by_thread(pid: int) -> list[int]:
    """Children of any of ``pid``'s threads (a child belongs to the thread that started it)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found.extend(map(int, Path(f"/proc/{pid}/task/{tid}/children").read_text().split()))
    return found


def _children_by_parent() -> Callable[[int], list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    return lambda pid: children.get(pid, [])


def _stat_fields(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return raw.rpartition(")")[2].split()  # [state, ppid, ...]: the name before it is free text


def _status_fields(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def _stored_bytes(pids: list[int], scratch: Path) -> tuple[int, set[str]]:
    """Bytes of the files a contestant has written where it can write: its scratch folder and,
    inside the sandbox, its writable tmpfs mounts (``/tmp``, ``/dev/shm``, the empty folders
    over hidden ones). A cache kept in files is memory the process does not map, so /proc's
    counts of its own pages miss it."""
    total = 0
    for folder, _, files in os.walk(scratch):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    own = _mount_namespace("self")
    for pid in pids:
        namespace = _mount_namespace(str(pid))
        if namespace is not None and namespace != own:
            in_tmpfs, file_systems = _writable_tmpfs_bytes(pid)
            return total + in_tmpfs, file_systems
    return total, set()


def _mount_namespace(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _writable_tmpfs_bytes(pid: int) -> tuple[int, set[str]]:
    """Bytes in use on the writable tmpfs mounts of ``pid``'s mount namespace (bubblewrap's
    own: the host's are bound read-only)."""
    try:
        lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    except OSError:
        return 0, set()
    total = 0
    counted: set[int] = set()  # a mount shadowed by a later one resolves to that one
    for line in lines:
        fields, _, tail = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 6 or tail.split()[:1] != ["tmpfs"] or "rw" not in parts[5].split(","):
            continue
        path = f"/proc/{pid}/root{parts[4].replace(chr(92) + '040', ' ')}"
        with contextlib.suppress(OSError):
            device = os.stat(path).st_dev
            if device not in counted:
                counted.add(device)
                usage = os.statvfs(path)
                total += (usage.f_blocks - usage.f_bfree) * usage.f_frsize
    return total, {f"{os.major(d):02x}:{os.minor(d):02x}" for d in counted}


def _file_key(stat: os.stat_result) -> tuple[str, int]:
    """A file as /proc/<pid>/smaps names a mapping of it: ("major:minor" in hex, inode)."""
    return f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}", stat.st_ino


def _held_files_bytes(
    pids: list[int], counted_file_systems: set[str], skip: Set[tuple[str, int]]
) -> tuple[int, set[tuple[str, int]]]:
    """Bytes of the files the tree holds open that no folder walk finds: memfds and deleted
    files (a cache written to one and read back with pread is memory no mapping shows), each
    counted once and in full, the bytes queued in its pipes (up to 1 MiB each, 64 MiB in all
    by default: a cache too) and in its sockets; and the files' keys, so their mappings are not
    counted again. Files on ``counted_file_systems`` (counted whole already) and ``skip`` (the
    arena, the channel's pipes) stay out."""
    total = 0
    socket_in = socket_out = 0
    counted: set[tuple[str, int]] = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            path = f"/proc/{pid}/fd/{fd}"
            try:
                target = os.readlink(path)
                stat = os.stat(path)
            except OSError:
                continue
            key = _file_key(stat)
            if key in counted or key in skip:
                continue
            if S_ISFIFO(stat.st_mode) and target.startswith("pipe:"):
                counted.add(key)
                total += _queued_bytes(path)
                continue
            if S_ISSOCK(stat.st_mode):
                counted.add(key)
                received, sent = _socket_queues(pid, int(fd))
                socket_in += received
                socket_out += sent
                continue
            if not S_ISREG(stat.st_mode):
                continue
            if key[0] in counted_file_systems:
                continue
            if target.startswith("/memfd:") or stat.st_nlink == 0:
                counted.add(key)
                total += stat.st_blocks * 512
    # A byte sent from one of its sockets to another shows in both queues: count it once. What
    # a socket it closed sent shows only in the receiver's queue (all of it for a stream; only
    # the first datagram for a datagram socket).
    return total + max(socket_in, socket_out), counted


def _queued_bytes(pipe_path: str) -> int:
    """Bytes waiting in a pipe another process holds, read without taking them: its
    /proc/<pid>/fd entry opened as a reader, and FIONREAD."""
    try:
        fd = os.open(pipe_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        return _ioctl_count(fd, termios.FIONREAD)
    finally:
        os.close(fd)


def _socket_queues(pid: int, fd: int) -> tuple[int, int]:
    """(bytes waiting to be read, bytes sent and not yet read) of a socket a contestant process
    holds: a duplicate of its descriptor (``pidfd_getfd``, Linux 5.6+; the referee, its
    ancestor, may take it), then ``SIOCINQ`` and ``SIOCOUTQ``. (0, 0) where that is refused."""
    try:
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        return 0, 0
    try:
        duplicate = _LIBC.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
    finally:
        os.close(pidfd)
    if duplicate < 0:
        return 0, 0
    try:  # FIONREAD is SIOCINQ on a socket, TIOCOUTQ is SIOCOUTQ
        return _ioctl_count(duplicate, termios.FIONREAD), _ioctl_count(duplicate, termios.TIOCOUTQ)
    finally:
        os.close(duplicate)


def _ioctl_count(fd: int, request: int) -> int:
    """The byte count ``request`` (FIONREAD, TIOCOUTQ) reports for ``fd``; 0 where the ioctl is
    refused (a listening socket, say)."""
    try:
        raw = fcntl.ioctl(fd, request, struct.pack("i", 0))
    except OSError:
        return 0
    return max(0, int(struct.unpack("i", raw)[0]))


def _private_bytes(
    pid: int, counted_file_systems: set[str], counted_files: Set[tuple[str, int]] = frozenset()
) -> int:
    """The process's own pages. Summed over a process tree, a page shared among its processes
    counts once: anonymous and shared-memory pages, and every page of a file mapping that is
    shared, of a deleted file, or holds pages its processes share dirty (copy-on-write after a
    fork), count by proportional share (Pss); a child forked to share the parent's pages, or a
    file two of its processes map, would otherwise vanish from every private count. Other file
    mappings (libraries, torch; files of its scratch folder, counted whole already) count only
    their dirty private pages: their clean pages are the files' own, which the kernel may drop
    and read back at any time (two processes running the same code measured up to 4 MiB apart
    when they were counted), and which the contestant cannot fill with data it made. Of a
    mapped file whose every byte is counted already (on ``counted_file_systems``, or in
    ``counted_files``) only the copy-on-write copies of its pages count (``Anonymous``)."""
    try:
        text = Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return 0
    total = 0
    for header, fields in _mappings(text):
        parts = header.split(maxsplit=5)  # address perms offset dev inode [path]
        perms, device, inode = parts[1], parts[3], int(parts[4])
        path = parts[5] if len(parts) > 5 else ""
        if device in counted_file_systems or (device, inode) in counted_files:
            total += fields.get("Anonymous", 0)
        elif (
            inode == 0
            or path.startswith(_SHARED_MEMORY_PATHS)
            or perms.endswith("s")
            or path.endswith(" (deleted)")
            or fields.get("Shared_Dirty", 0) > 0
        ):
            total += fields.get("Pss", 0)
        else:
            total += fields.get("Private_Dirty", 0)
    return total


def _mappings(smaps: str) -> Iterator[tuple[str, dict[str, int]]]:
    """Each mapping of a /proc/<pid>/smaps text: its header line and its sizes, in bytes."""
    header = ""
    fields: dict[str, int] = {}
    for line in smaps.splitlines():
        key, _, rest = line.partition(":")
        if " " not in key:  # a field of the current mapping
            value = rest.split()
            if len(value) == 2 and value[1] == "kB":
                fields[key] = int(value[0]) * 1024
            continue
        if header:
            yield header, fields
        header, fields = line, {}
    if header:
        yield header, fields


_SHARED_MEMORY_PATHS = ("[", "/dev/zero", "/memfd:", "/dev/shm/", "/SYSV")
