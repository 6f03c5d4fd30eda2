"""Red-team submissions against the referee/contestant split (docs/lab.md), beyond the classes of
test_lab_referee.py: each was first written as a cheat a candidate could submit, and each test
asserts that the lab refuses it or measures it honestly. Graded through the real runner, referee
and sandbox, on the toy practical (a grade here takes seconds, not a minute)."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import time
from pathlib import Path

import pytest

from quiz import config
from quiz.lab import channel, landlock
from tests.lab_fixtures import REFERENCE, write_practical
from tests.test_lab_referee import (
    MEMORY_GRADER,
    NAMESPACES,
    SPEED_DRIVER,
    SPEED_GRADER,
    WORK,
    grade,
    needs_namespaces,
    outside,  # noqa: F401 - the fixture, used by name
    probe,
)

pytestmark = pytest.mark.slow


@needs_namespaces
def test_the_installed_copy_of_the_practicals_is_out_of_sight(
    outside: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A wheel, and an editable install too, carries the bank and every practical (model
    solutions included) as quiz/_data in site-packages, which the contestant's Python needs:
    reading reference.py from there by path passed kv-cache outright."""
    code = probe(
        """
        import glob, sys
        found = [g for e in sys.path for g in glob.glob(e + "/quiz/_data/*")]
        if found:
            problems.append("can see the installed package data: " + str(found[:3]))
        """
    )
    result = grade(tmp_path, code)
    assert result.passed, result.error


CACHE_IN_FILES = """
import os

_CHUNK = bytes(32 * 2**20)
for place in ("/tmp/cache.bin", "/dev/shm/cache.bin", "cache.bin"):
    with open(place, "wb") as out:
        out.write(_CHUNK)
del _CHUNK


def double(x):
    return 2 * x
"""


SHARED_WITH_A_CHILD = """
import mmap
import os
import time

_CACHE = mmap.mmap(-1, 96 * 2**20)  # anonymous shared memory
_CACHE.write(bytes(range(256)) * (96 * 2**20 // 256))
if os.fork() == 0:  # a child that maps it too: the pages are no longer private to either
    time.sleep(3600)
    os._exit(0)


def double(x):
    return 2 * x
"""


@needs_namespaces
def test_a_cache_in_files_or_shared_with_a_child_counts_as_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """96 MiB kept in tmpfs files (the sandbox's /tmp and /dev/shm) and the working folder, not
    in the process, or in memory shared with a forked child: /proc's private page counts of
    the processes showed none of it."""
    root = tmp_path / "practicals"
    write_practical(root, grader=MEMORY_GRADER)
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    for cheat in (CACHE_IN_FILES, SHARED_WITH_A_CHILD):
        hidden = grade(tmp_path, cheat, sandbox="namespaces")
        assert hidden.passed, hidden.error
        extra = float(hidden.checks[0].measured or 0) - honest_mib_held(tmp_path, "namespaces")
        assert 80 <= extra <= 200, extra


IN_AN_UNMAPPED_MEMFD = """
import os

_FD = os.memfd_create("cache")  # written and read back with pread: no mapping shows it
os.write(_FD, bytes(range(256)) * (96 * 2**20 // 256))


def double(x):
    return 2 * x
"""

IN_A_DELETED_FILE = """
import os

_FD = os.open("cache.bin", os.O_RDWR | os.O_CREAT)  # in the scratch folder, then unlinked
os.unlink("cache.bin")
os.write(_FD, bytes(range(256)) * (96 * 2**20 // 256))


def double(x):
    return 2 * x
"""

MAPPED_MEMFD = """
import mmap
import os

_FD = os.memfd_create("cache")  # held open and mapped: counted once, not twice
os.ftruncate(_FD, 96 * 2**20)
_MAP = mmap.mmap(_FD, 96 * 2**20)
_MAP.write(bytes(range(256)) * (96 * 2**20 // 256))


def double(x):
    return 2 * x
"""


IN_PIPES = """
import fcntl
import os

_PIPES = []
# 24 MiB queued in pipes of 1 MiB, read back only when needed. Not more: past 64 MiB of pipes
# for one user (fs.pipe-user-pages-soft) the kernel refuses to grow them, and other grades running
# beside this one hold pipes too.
for _ in range(24):
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 2**20)
    os.write(write_end, bytes(range(256)) * (2**20 // 256))
    _PIPES.append((read_end, write_end))


def double(x):
    return 2 * x
"""


IN_SOCKETS = """
import socket

_PAIRS = []
for _ in range(104):  # 13 MiB queued in socket pairs, 128 KiB each, read back only when needed
    sender, receiver = socket.socketpair()
    for _ in range(2):
        sender.sendall(bytes(range(256)) * 256)
    _PAIRS.append((sender, receiver))


def double(x):
    return 2 * x
"""


_LIBC_MMAP = """
import ctypes
import os
import subprocess
import sys

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t] + [ctypes.c_int] * 3 + [ctypes.c_long]
_SIZE = 96 * 2**20
PROT_READ_WRITE, MAP_SHARED, MAP_PRIVATE = 3, 1, 2


def mapped(path, flags):  # libc's mmap: unlike Python's mmap, no descriptor is kept open
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, _SIZE)  # sparse: no block of it is on disk yet
    address = _LIBC.mmap(None, _SIZE, PROT_READ_WRITE, flags, fd, 0)
    os.close(fd)
    ctypes.memmove(address, bytes(range(256)) * (_SIZE // 256), _SIZE)
    return address
"""

# 96 MiB in a file of the working folder mapped shared, then unlinked, and mapped by a helper
# process too (started with exec, so it shares none of the heap): every page shows as shared
# dirty in both, no folder walk finds the file and no descriptor holds it (seen: int8-ptq's
# weights kept in bf16 this way measured 0.07x of fp32, and passed the 0.3x limit).
MAPPED_BY_TWO_THEN_DELETED = (
    _LIBC_MMAP
    + """
_ADDRESS = mapped("weights.bin", MAP_SHARED)
_MAPS_IT_TOO = '''
import ctypes, os, time
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t] + [ctypes.c_int] * 3 + [ctypes.c_long]
fd = os.open("weights.bin", os.O_RDONLY)
size = os.fstat(fd).st_size
address = libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
os.close(fd)
sum(ctypes.string_at(address + i, 1)[0] for i in range(0, size, 4096))
print("mapped", flush=True)
time.sleep(3600)
'''
_HELPER = subprocess.Popen([sys.executable, "-S", "-c", _MAPS_IT_TOO], stdout=subprocess.PIPE)
_HELPER.stdout.readline()
os.unlink("weights.bin")


def double(x):
    return 2 * x
"""
)

# 96 MiB written into a private mapping of a sparse file (its pages become copy-on-write
# copies), then shared with a forked child: dirty pages shared by two processes.
PRIVATE_MAPPING_SHARED_WITH_A_CHILD = (
    _LIBC_MMAP
    + """
import time

_ADDRESS = mapped(os.path.join(os.environ["TMPDIR"], "cache.bin"), MAP_PRIVATE)
if os.fork() == 0:
    time.sleep(3600)
    os._exit(0)


def double(x):
    return 2 * x
"""
)


# 96 MiB written into a private mapping of a sparse file in the sandbox's in-memory /tmp: each
# page written is a page of the file (tmpfs fills the hole on the fault) and a private copy of it.
PRIVATE_MAPPING_OF_A_TMP_FILE = (
    _LIBC_MMAP
    + """
_PATH = f"/tmp/latency-quiz-redteam-{os.getpid()}.bin"
_ADDRESS = mapped(_PATH, MAP_PRIVATE)
os.unlink(_PATH)


def double(x):
    return 2 * x
"""
)


@pytest.mark.parametrize("level", ["namespaces", "rlimits"])
@pytest.mark.parametrize(
    ("cheat", "held_mib"),
    [
        pytest.param(IN_AN_UNMAPPED_MEMFD, 96, id="unmapped-memfd"),
        pytest.param(IN_A_DELETED_FILE, 96, id="deleted-file"),
        pytest.param(MAPPED_MEMFD, 96, id="mapped-memfd-once"),
        pytest.param(IN_PIPES, 24, id="pipes"),
        pytest.param(IN_SOCKETS, 13, id="sockets"),
        pytest.param(MAPPED_BY_TWO_THEN_DELETED, 96, id="file-mapped-by-two-then-deleted"),
        pytest.param(PRIVATE_MAPPING_SHARED_WITH_A_CHILD, 96, id="private-file-mapping-forked"),
    ],
)
def test_a_cache_no_mapping_or_folder_shows_counts_as_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str, cheat: str, held_mib: int
) -> None:
    """A cache held in a memfd or an unlinked file (written and read with file calls), or queued
    in pipes or sockets: no folder walk finds it and no mapping shows it, so the referee counts
    the files the tree holds open and asks each of its pipes and sockets how much it holds."""
    extra = extra_mib_held(tmp_path, monkeypatch, cheat, level)
    assert 0.85 * held_mib <= extra <= 1.45 * held_mib, extra


def test_private_copies_of_an_in_memory_files_pages_count_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The referee counts a tmpfs file by the file system's usage and left its mappings out, so
    the private copies of its pages were missed: 96 MiB counted of the 192 MiB held."""
    extra = extra_mib_held(tmp_path, monkeypatch, PRIVATE_MAPPING_OF_A_TMP_FILE, "namespaces")
    assert 0.85 * 192 <= extra <= 1.45 * 192, extra


def extra_mib_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cheat: str, level: str
) -> float:
    """What ``cheat`` measures held (MiB) over an honest submission, at ``level``."""
    if level == "namespaces" and not NAMESPACES:
        pytest.skip("no bubblewrap namespaces here")
    root = tmp_path / "practicals"
    write_practical(root, grader=MEMORY_GRADER)
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    hidden = grade(tmp_path, cheat, sandbox=level)
    assert hidden.passed, hidden.error
    return float(hidden.checks[0].measured or 0) - honest_mib_held(tmp_path, level)


_HONEST_MIB_HELD: dict[str, float] = {}


def honest_mib_held(tmp_path: Path, level: str) -> float:
    """What an honest submission measures held (MiB) at ``level`` on the memory practical (set
    up by the caller): graded once per test process and level, the same for every cheat."""
    if level not in _HONEST_MIB_HELD:
        small = grade(tmp_path, REFERENCE, sandbox=level)  # the honest double()
        assert small.passed, small.error
        _HONEST_MIB_HELD[level] = float(small.checks[0].measured or 0)
    return _HONEST_MIB_HELD[level]


def test_a_detached_process_does_not_outlive_the_grade(
    outside: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A submission that double-forks into a new session escapes the contestant's process
    group; at the rlimits level (no PID namespace) it used to keep running after the grade,
    free to touch the user's files later."""
    tag = f"37.{os.getpid()}{int(time.time()) % 1000}"
    code = f"""
        import os

        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "{tag}"])
            os._exit(0)


        def double(x):
            return 2 * x
    """
    result = grade(tmp_path, code, sandbox="rlimits")
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"sleep {tag}"], capture_output=True, text=True)
    survivors = [int(pid) for pid in left.stdout.split()]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert result.passed, result.error
    assert survivors == []


FORKS_UNTIL_REFUSED = """
import signal, time

started, refused = [], None
try:
    for _ in range(4 * {limit}):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        started.append(pid)
except OSError as err:
    refused = err
for pid in started:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
if refused is None:
    problems.append(f"started {{len(started)}} processes and none was refused")
elif not isinstance(refused, BlockingIOError) or len(started) > {limit}:
    problems.append(f"{{len(started)}} started, then {{refused!r}}")
"""


@pytest.mark.parametrize("level", ["namespaces", "rlimits"])
def test_a_fork_bomb_is_stopped_at_the_contestants_task_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    """A submission that forks until the machine refuses: without a cap (root is exempt from
    RLIMIT_NPROC) it would take every pid the machine has, and the user's own programs with it."""
    from quiz.lab.sandbox import MAX_TASKS, process_cap

    if level == "namespaces" and not NAMESPACES:
        pytest.skip("no bubblewrap namespaces here")
    if process_cap().kind == "none":
        pytest.skip(process_cap().description)
    root = tmp_path / "practicals"
    write_practical(root)
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    result = grade(tmp_path, probe(FORKS_UNTIL_REFUSED.format(limit=MAX_TASKS)), sandbox=level)
    assert result.passed, result.error


def test_at_the_rlimits_level_a_root_contestant_cannot_read_the_referee(
    outside: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Run as root (a container, this machine), the fallback level's contestant kept root's
    capabilities: it read the referee's memory through /proc/<referee>/mem (the referee's
    "not dumpable" yields to CAP_SYS_PTRACE), where the secret seed and thresholds live."""
    code = probe(
        """
        try:
            with open(f"/proc/{os.getppid()}/maps") as maps:
                first = int(maps.readline().split("-")[0], 16)
            with open(f"/proc/{os.getppid()}/mem", "rb") as memory:
                memory.seek(first)
                memory.read(16)
            problems.append("read the referee's memory")
        except OSError:
            pass
        """
    )
    result = grade(tmp_path, code, sandbox="rlimits")
    assert result.passed, result.error


HELPERS_STARTED_LATE = """
import mmap
import os
import time

_IN_CALL = mmap.mmap(-1, 1)
_HELPERS = []


def _burn_while_idle():
    while True:
        if _IN_CALL[0]:
            time.sleep(0.0002)
        else:
            for _ in range(2000):
                pass


def _start_helpers():
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                _burn_while_idle()
            finally:
                os._exit(0)
        _HELPERS.append(pid)


_honest_work = work


def work(x):
    if not _HELPERS:
        _start_helpers()  # after the referee noted this contestant's processes
    _IN_CALL[0] = 1
    try:
        return _honest_work(x)
    finally:
        _IN_CALL[0] = 0
"""


def test_helper_processes_started_during_timing_cannot_slow_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The candidate does exactly the baseline's work (a true 1.0x) and, at its first call,
    forks helpers that burn CPU only while it is not being called, i.e. while the baseline is
    timed (measured once on this machine: 1.23x, passing with the meter reading 0.01 CPU-s
    "while the baseline was timed"; how much the baseline slows depends on the load, so what is
    asserted is that the helpers' CPU is seen and refused). Not refused, they used 0.24-0.43
    CPU-s in whole grades against 0.1-0.2 s of baseline calls, mostly under the fixed 0.3 s
    grace that processes started during the timing had until the CI passed them once; their
    allowance is now the candidate's own between calls (here ~0.06 s)."""
    root = tmp_path / "practicals"
    folder = write_practical(root, grader=SPEED_GRADER, time_limit_s=120)
    (folder / "toy_driver.py").write_text(SPEED_DRIVER)
    (folder / "baseline.py").write_text(WORK.format(rounds=40))
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    result = grade(tmp_path, WORK.format(rounds=40) + HELPERS_STARTED_LATE)
    assert not result.passed, result.details.get("candidate_cpu")
    assert "outside its calls" in (result.error or ""), result.error


# Any process may call itself "bwrap" (prctl PR_SET_NAME); the referee once left processes of
# that name out of the contestant's tree, as bubblewrap's own.
DISGUISED_AS_BWRAP = """
import ctypes


def _disguise():
    ctypes.CDLL(None).prctl(15, b"bwrap", 0, 0, 0)  # PR_SET_NAME
"""

HELD_IN_A_DISGUISED_CHILD = (
    DISGUISED_AS_BWRAP
    + """
import os
import time

_READY_READ, _READY_WRITE = os.pipe()
if os.fork() == 0:
    _disguise()
    _HELD = bytearray(os.urandom(1 << 20) * 96)
    os.write(_READY_WRITE, b"1")
    time.sleep(3600)
    os._exit(0)
os.read(_READY_READ, 1)  # the child holds it all before the grader looks (slow under load)


def double(x):
    return 2 * x
"""
)


@pytest.mark.parametrize("level", ["namespaces", "rlimits"])
def test_a_child_named_like_the_sandbox_still_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    """96 MiB held by a child that renamed itself "bwrap" (measured -54 MiB before: the fork
    only made the parent's pages shared), and helpers with that name burning CPU while the
    baseline is timed (seen as 0.0 CPU-s and passed): the sandbox's own processes are told by
    their place in the tree, not by name."""
    extra = extra_mib_held(tmp_path, monkeypatch, HELD_IN_A_DISGUISED_CHILD, level)
    assert extra >= 80, extra

    timed = tmp_path / "timed"
    folder = write_practical(timed, grader=SPEED_GRADER, time_limit_s=120)
    monkeypatch.setattr(config, "practicals_dir", lambda: timed)
    (folder / "toy_driver.py").write_text(SPEED_DRIVER)
    (folder / "baseline.py").write_text(WORK.format(rounds=40))
    disguised_helpers = HELPERS_STARTED_LATE.replace(
        "            try:\n", "            try:\n                _disguise()\n"
    )
    assert disguised_helpers != HELPERS_STARTED_LATE
    result = grade(tmp_path, WORK.format(rounds=40) + DISGUISED_AS_BWRAP + disguised_helpers,
                   sandbox=level)  # fmt: skip
    assert not result.passed, result.details.get("candidate_cpu")
    assert "outside its calls" in (result.error or ""), result.error


def test_a_frame_nested_past_the_parser_stack_is_a_channel_error() -> None:
    """JSON nested deeper than the parser's recursion limit raised RecursionError in the
    referee, reported as a grader bug instead of the contestant's broken reply."""
    depth = 100_000
    with pytest.raises(channel.ChannelError, match="nested too deeply"):
        channel.decode(b"[" * depth + b"]" * depth, bytearray())


@pytest.mark.parametrize("level", ["namespaces", "rlimits"])
def test_system_v_shared_memory_and_message_queues_are_refused(
    outside: dict,  # noqa: F811
    tmp_path: Path,
    level: str,
) -> None:
    """A System V segment detached from every process, or a message queue, holds memory that no
    process maps or holds open, so nothing the referee reads in /proc shows it: the contestant's
    seccomp filter refuses creating either (EPERM), at both sandbox levels."""
    if level == "namespaces" and not NAMESPACES:
        pytest.skip("no bubblewrap namespaces here")
    code = probe(
        """
        import ctypes, errno
        libc = ctypes.CDLL(None, use_errno=True)
        IPC_PRIVATE, IPC_CREAT = 0, 0o1000
        if libc.shmget(IPC_PRIVATE, 64 * 2**20, IPC_CREAT | 0o600) != -1:
            problems.append("shmget created a segment")
        elif ctypes.get_errno() != errno.EPERM:
            problems.append(f"shmget failed with errno {ctypes.get_errno()}, not EPERM")
        if libc.msgget(IPC_PRIVATE, IPC_CREAT | 0o600) != -1:
            problems.append("msgget created a queue")
        """
    )
    result = grade(tmp_path, code, sandbox=level)
    assert result.passed, (result.error, [c.message for c in result.checks])


@pytest.mark.parametrize("level", ["namespaces", "landlock", "rlimits"])
def test_no_internet_sockets_and_no_io_uring(
    outside: dict,  # noqa: F811
    tmp_path: Path,
    level: str,
) -> None:
    """Landlock refuses TCP only: a process in a Landlock domain sent a UDP datagram to another
    on 127.0.0.1 (seen), so two ranks of a group could trade activations outside the collectives
    the referee relays and counts. The seccomp filter refuses IPv4 and IPv6 sockets at every
    level, and io_uring, whose requests (a socket's creation among them) it would not see."""
    if level == "namespaces" and not NAMESPACES:
        pytest.skip("no bubblewrap namespaces here")
    if level == "landlock" and landlock.abi() == 0:
        pytest.skip("no Landlock here")
    code = probe(
        """
        import ctypes, errno
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.socket(family, socket.SOCK_DGRAM).close()
                problems.append(f"made a {family.name} socket")
            except PermissionError:
                pass
        libc = ctypes.CDLL(None, use_errno=True)
        params = ctypes.create_string_buffer(120)
        ring = libc.syscall(425, 4, params)
        if ring != -1 or ctypes.get_errno() != errno.EPERM:
            problems.append(f"io_uring_setup gave {ring}, errno {ctypes.get_errno()}")
        left, right = socket.socketpair()  # its own Unix sockets still work
        left.sendall(b"x")
        if right.recv(1) != b"x":
            problems.append("a Unix socket pair did not work")
        """
    )
    result = grade(tmp_path, code, sandbox=level)
    assert result.passed, (result.error, [c.message for c in result.checks])


@pytest.mark.skipif(platform.machine() != "x86_64", reason="system call numbers of x86_64")
@pytest.mark.parametrize("level", ["namespaces", "rlimits"])
def test_no_process_can_leave_the_contestants_process_tree(
    outside: dict,  # noqa: F811
    tmp_path: Path,
    level: str,
) -> None:
    """The referee reads a contestant's CPU time and memory, and stops it, through its process
    tree. clone(CLONE_PARENT) would start a process as the first process's sibling, and unsetting
    the first process's subreaper flag would hand what it detaches to the referee: both are
    refused (EPERM); clone3, whose flags seccomp cannot read, answers ENOSYS, and threads, which
    the C library then starts with clone, still work."""
    if level == "namespaces" and not NAMESPACES:
        pytest.skip("no bubblewrap namespaces here")
    code = probe(
        """
        import ctypes, errno, signal, threading
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE, CLONE3, PRCTL, CLONE_PARENT, PR_SET_CHILD_SUBREAPER = 56, 435, 157, 0x8000, 36
        pid = libc.syscall(CLONE, CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0)
        if pid == 0:
            os._exit(0)
        if pid != -1 or ctypes.get_errno() != errno.EPERM:
            problems.append(f"clone(CLONE_PARENT) gave {pid}, errno {ctypes.get_errno()}")
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) != -1:
            problems.append("prctl(PR_SET_CHILD_SUBREAPER, 0) was allowed")
        if libc.syscall(CLONE3, 0, 0) != -1 or ctypes.get_errno() != errno.ENOSYS:
            problems.append(f"clone3 was not refused with ENOSYS (errno {ctypes.get_errno()})")
        ran = []
        thread = threading.Thread(target=ran.append, args=(1,))
        thread.start()
        thread.join()
        if ran != [1]:
            problems.append("a thread did not run")
        """
    )
    result = grade(tmp_path, code, sandbox=level)
    assert result.passed, (result.error, [c.message for c in result.checks])


# Helpers detached from the contestant (double fork, setsid) that burn CPU only while the baseline
# is timed; as root they also move themselves out of the contestant's pids cgroup.
DETACHED_HELPERS = """
import mmap
import os
import time

_IN_CALL = mmap.mmap(-1, 1)
_STARTED = []


def _leave_the_cgroup():
    with open("/proc/self/cgroup") as groups:
        lines = [line.split(":", 2) for line in groups.read().splitlines()]
    for _, controllers, path in lines:
        if "pids" in controllers.split(",") or not controllers:
            mount = "/sys/fs/cgroup" + ("/pids" if controllers else "")
            try:
                with open(mount + path.rsplit("/", 1)[0] + "/cgroup.procs", "w") as procs:
                    procs.write(str(os.getpid()))
            except OSError:
                pass


def _burn_while_idle():
    while True:
        if _IN_CALL[0]:
            time.sleep(0.0002)
        else:
            for _ in range(2000):
                pass


def _start_helpers():
    for _ in range(4):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                _leave_the_cgroup()
                try:
                    _burn_while_idle()
                finally:
                    os._exit(0)
            os._exit(0)
    _STARTED.append(1)


_honest_work = work


def work(x):
    if not _STARTED:
        _start_helpers()
    _IN_CALL[0] = 1
    try:
        return _honest_work(x)
    finally:
        _IN_CALL[0] = 0
"""


@pytest.mark.parametrize("level", ["namespaces", "rlimits"])
def test_detached_helpers_that_leave_the_cgroup_are_still_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    """At the rlimits level (no PID namespace) a detached process went to the referee, its
    subreaper, and out of the contestant's tree: four such helpers slowed the baseline while their
    CPU time went unseen (a true 1.0x measured 1.27x and passed, "0.0 CPU-s while the baseline
    was timed"). The contestant is now the subreaper of its own descendants."""
    if level == "namespaces" and not NAMESPACES:
        pytest.skip("no bubblewrap namespaces here")
    root = tmp_path / "practicals"
    folder = write_practical(root, grader=SPEED_GRADER, time_limit_s=120)
    (folder / "toy_driver.py").write_text(SPEED_DRIVER)
    (folder / "baseline.py").write_text(WORK.format(rounds=40))
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    result = grade(tmp_path, WORK.format(rounds=40) + DETACHED_HELPERS, sandbox=level)
    seen = (result.error, result.details.get("candidate_cpu"), [c.message for c in result.checks])
    assert not result.passed, seen
    assert "outside its calls" in (result.error or ""), seen  # failed once under -n 2: which way?
