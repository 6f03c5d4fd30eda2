"""The contestant process: runs the code under test behind the channel, inside the sandbox.

Started by ``quiz.lab.referee`` as ``python -E -s -c BOOT QUIZ_PARENT REQ_FD REP_FD NETWORK``
(``NETWORK``: ``internet`` where it may make IPv4/IPv6 sockets, else ``none``). Until it
imports ``solution.py`` everything here is trusted; after that, nothing in this process is, which
is why the referee decides nothing from what this process says about itself, only from the plain
data it replies with and what the referee measures from outside.

Protocol: the first request is ``{"driver": "module:function", "init": ..., "threads": n,
"memory_budget": bytes|None, "cuda": bool}``; the reply is ``{"ok": true, "endpoints": [...]}``
or an error. Then each request ``{"call": name, "args": [...]}`` gets ``{"ok": true, "value": v}``
or ``{"ok": false, "error": {...}}``. During a call a driver may ask the referee something
(``ask_referee``): it sends ``{"ask": question}`` instead of the reply and reads ``{"answer": v}``
or ``{"refused": reason}``; a group of ranks runs its collectives this way. End of input ends the
process. A contestant set up ``frozen`` (the referee stops it between calls) replies with its
tensors' addresses (``channel``), kept alive until the next request.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import importlib.util
import linecache
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quiz.lab import channel

BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from quiz.lab.contestant import main; sys.exit(main(sys.argv[2:]))"
)
MAX_FRAMES = 12  # of the user's code, innermost, in an error or a time-out's message
STACK_DUMP_FILE = ".stack-dump"  # in the working folder: the Python stacks, on SIGUSR1
_CHANNEL: list[int] = []  # this process's request and reply pipes, once main() has them
_SENT_BY_ADDRESS: list[Any] = []  # the last reply's tensors, read from here by the referee


def main(argv: list[str]) -> int:
    from quiz.lab.sandbox import refuse_syscalls

    refuse_syscalls(internet=argv[2] == "internet")  # before any thread or any user code
    # When a call runs past its time, the referee asks where it is stuck (``running_frames``).
    dump = os.open(STACK_DUMP_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    faulthandler.register(signal.SIGUSR1, dump, all_threads=True)
    request_fd, reply_fd = int(argv[0]), int(argv[1])
    _CHANNEL[:] = [request_fd, reply_fd]
    try:
        setup = channel.receive(request_fd)
    except channel.ChannelError:
        return 2
    workdir = Path.cwd()
    shared = setup.get("arena")
    # mapped before the driver starts, so the address-space limit counts it
    arena = channel.Arena(int(shared[0]), int(shared[1])) if shared else None
    try:
        endpoints = _start(setup, workdir)
    except BaseException as err:  # noqa: BLE001 - every failure of the user's code is reported
        channel.send(reply_fd, {"ok": False, "error": describe_error(err, workdir)})
        return 1
    channel.send(reply_fd, {"ok": True, "endpoints": sorted(endpoints)})
    cuda = bool(setup.get("cuda"))
    by_address = bool(setup.get("frozen"))
    while True:
        try:
            request = channel.receive(request_fd, arena=arena, region=0, copy=False)
        except channel.ChannelError:
            return 0
        with _ASKING:
            _IN_CALL[0] = True
        reply = _serve(endpoints, request, cuda, workdir)
        with _ASKING:  # a question in flight is answered before the reply goes
            _IN_CALL[0] = False
            try:
                # what went by address stays alive until the next reply replaces it
                _SENT_BY_ADDRESS[:] = channel.send(
                    reply_fd, reply, arena, region=1, by_address=by_address
                )
            except TypeError as err:  # encoding fails before anything is written
                error = {"type": "TypeError", "message": f"the reply is not plain data: {err}"}
                channel.send(reply_fd, {"ok": False, "error": error})


def _start(setup: dict[str, Any], workdir: Path) -> dict[str, Callable[..., Any]]:
    import gc

    budget = setup.get("memory_budget")
    if budget and not setup.get("cuda"):
        import torch  # noqa: F401 - before the limit: torch's own memory is not the code's

        from quiz.lab.sandbox import limit_private_memory

        limit_private_memory(int(budget))
    sys.path.insert(0, str(workdir))
    module_name, _, function_name = str(setup["driver"]).partition(":")
    # torch is imported by the code that uses it (2 s of CPU saved where the driver and the
    # solution are pure Python, as the simulations are)
    solution = _import_solution(workdir / "solution.py")
    driver = importlib.import_module(module_name)
    torch_module = sys.modules.get("torch")
    if torch_module is not None:
        torch_module.set_num_threads(int(setup.get("threads") or 1))
    # What startup made (torch's objects above all) lives as long as the process: out of the
    # collector's sight, a full collection (every memory read settles the process first) takes
    # microseconds, not 0.1 s.
    gc.freeze()
    serve = getattr(driver, function_name or "serve")
    endpoints = serve(solution, setup.get("init"))
    if not isinstance(endpoints, dict) or not all(callable(f) for f in endpoints.values()):
        raise TypeError(f"{module_name}.{function_name} must return a dict of callables")
    endpoints = dict(endpoints)
    endpoints["__echo__"] = _echo
    endpoints["__keep__"] = _keep
    endpoints["__kept__"] = _kept
    endpoints["__settle__"] = _settle
    return endpoints


_ASKING = threading.Lock()
_IN_CALL = [False]  # whether the referee is waiting on a call's reply, and so hears questions


def ask_referee(question: Any) -> Any:
    """Send ``question`` (plain data) to the referee in the middle of a call and return its
    answer; RuntimeError with the referee's reason when it refuses. Only a referee that expects
    questions in that call answers them (a group of ranks' collectives, ``quiz.lab.collectives``)."""
    if not _CHANNEL:
        raise RuntimeError("ask_referee() works only in a contestant process")
    request_fd, reply_fd = _CHANNEL
    with _ASKING:  # threads take turns: two questions in flight would interleave their frames
        if not _IN_CALL[0]:
            # the referee is not listening: the question would be read as the next call's reply,
            # and this thread would take the next request for its answer
            raise RuntimeError("ask_referee() is answered only while a call is running")
        channel.send(reply_fd, {"ask": question})
        try:
            answer = channel.receive(request_fd)
        except channel.ChannelError as err:
            raise RuntimeError(f"the referee did not answer: {err}") from None
    if isinstance(answer, dict) and "answer" in answer:
        return answer["answer"]
    reason = answer.get("refused") if isinstance(answer, dict) else None
    raise RuntimeError(str(reason or "the referee refused the question"))


def _echo(*args: Any) -> Any:
    return args[0] if len(args) == 1 else list(args)


_KEPT: list[Any] = [None]


def _keep(value: Any) -> None:
    """Hold a copy of ``value`` for ``__kept__`` (None lets go of it): its tensors may be views
    of the arena, which the next request overwrites."""
    _KEPT[0] = _copied(value)


def _copied(value: Any) -> Any:
    if isinstance(value, list):
        return [_copied(item) for item in value]
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    clone = getattr(value, "clone", None)  # a tensor
    return clone() if clone is not None else value


def _kept(*_inputs: Any) -> Any:
    """Take a call's inputs and reply with the kept value: a call's traffic without its work."""
    return _KEPT[0]


def _settle() -> None:
    """Free what is garbage and give freed heap back to the system before the referee reads
    this process's memory (a process that skips it only looks bigger)."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _import_solution(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("solution", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["solution"] = module
    spec.loader.exec_module(module)
    return module


def _serve(
    endpoints: dict[str, Callable[..., Any]], request: Any, cuda: bool, workdir: Path
) -> dict[str, Any]:
    try:
        name = request["call"]
        function = endpoints[name]
    except (KeyError, TypeError):
        return {"ok": False, "error": {"type": "ProtocolError", "message": "unknown call"}}
    try:
        value = function(*request.get("args", []))
        if cuda:
            import torch

            torch.cuda.synchronize()
        return {"ok": True, "value": value}
    except BaseException as err:  # noqa: BLE001 - reported to the referee, which decides
        if isinstance(err, KeyboardInterrupt):
            raise
        return {"ok": False, "error": describe_error(err, workdir)}


def describe_error(err: BaseException, workdir: Path) -> dict[str, Any]:
    """The error as plain data, its traceback trimmed to frames in the contestant's folder
    (``solution.py`` and the practical's public modules), innermost last, from the first frame
    in ``solution.py`` on: the practical's endpoint that called it is not the user's code."""
    frames: list[dict[str, Any]] = []
    for frame in traceback.extract_tb(err.__traceback__):
        path = Path(frame.filename)
        if path.parent != workdir:
            continue
        line = frame.line or linecache.getline(frame.filename, frame.lineno or 0).strip()
        frames.append(
            {"file": path.name, "line": frame.lineno, "function": frame.name, "code": line}
        )
    own = next((i for i, frame in enumerate(frames) if frame["file"] == "solution.py"), 0)
    frames = frames[own:]
    if isinstance(err, SyntaxError) and err.filename:
        frames.append(
            {
                "file": Path(err.filename).name,
                "line": err.lineno,
                "function": "<module>",
                "code": (err.text or "").strip(),
            }
        )
    message = str(err)
    if isinstance(err, SystemExit):
        message = f"sys.exit({err.code!r}) was called"
    elif isinstance(err, MemoryError):
        message = "out of memory (MemoryError): the code allocates more than the practical allows"
    return {"type": type(err).__name__, "message": message[:2000], "frames": frames[-MAX_FRAMES:]}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
