"""How a contestant process is confined. No torch here: ``doctor`` and the runner use it too.

Three levels: ``namespaces`` (bubblewrap: read-only root, only the scratch folder and ``/tmp``
writable, home, data directory, source tree and practicals hidden, own PID/IPC/UTS namespaces,
no network), ``landlock`` where bubblewrap cannot run but the kernel has Landlock (the rlimits
level, plus file access only beneath what the contestant needs, no TCP, no signals out of its
domain: ``landlock.py``) and ``rlimits`` (a stripped environment, scratch working directory,
resource limits, own session, death with the referee). ``LATENCY_QUIZ_SANDBOX=landlock`` or
``=rlimits`` forces a fallback.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

from quiz.lab import landlock
from quiz.lab.landlock import PR_SET_NO_NEW_PRIVS

SANDBOX_ENV = "LATENCY_QUIZ_SANDBOX"
LEVELS = ("namespaces", "landlock", "rlimits")
_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_PR_SET_CHILD_SUBREAPER = 36
_CAPABILITIES = 64  # more than the kernel has: dropping an unknown one fails harmlessly
_OPEN_FILES = 256
MAX_TASKS = 512  # processes and threads one contestant may have at once
_FILE_SIZE = 1 << 30
TMP_BYTES = 1 << 30
HIDDEN_TMPFS_BYTES = 1 << 20


@dataclass(frozen=True)
class SandboxLevel:
    level: str
    reason: str

    def describe(self) -> str:
        if self.level == "namespaces":
            return (
                "namespaces (bubblewrap): read-only file system, home, data and practicals "
                "hidden, own PID namespace, no network, rlimits, pinned to the grade's cores"
            )
        if self.level == "landlock":
            version = landlock.abi()
            gaps = "" if version >= 6 else "; graded code can still signal the baseline"
            return (
                f"landlock (ABI {version}; {self.reason}): "
                f"{', '.join(landlock.covers(version))}, stripped environment, rlimits, pinned "
                f"to the grade's cores; no PID namespace{gaps}"
            )
        return (
            f"rlimits only ({self.reason}): stripped environment, scratch folder, rlimits, "
            "no IPv4/IPv6 sockets, pinned to the grade's cores; graded code can still read the "
            "solutions, change your files (it runs as you) and signal the baseline, so install "
            "bubblewrap for grades to trust"
        )


@cache
def sandbox_level() -> SandboxLevel:
    """The strongest level this machine can give (probed once per process)."""
    forced = os.environ.get(SANDBOX_ENV)
    if forced == "rlimits":
        return SandboxLevel("rlimits", f"{SANDBOX_ENV}=rlimits")
    if forced == "landlock" and landlock.abi() == 0:
        return SandboxLevel("rlimits", f"{SANDBOX_ENV}=landlock, but the kernel has no Landlock")
    if forced == "landlock":
        return SandboxLevel("landlock", f"{SANDBOX_ENV}=landlock")
    why_not = _why_no_namespaces()
    if why_not is None:
        return SandboxLevel("namespaces", "")
    if landlock.abi() > 0:
        return SandboxLevel("landlock", why_not)
    return SandboxLevel("rlimits", f"{why_not}, and the kernel has no Landlock")


def _why_no_namespaces() -> str | None:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        probe = subprocess.run(
            [bwrap, *_NAMESPACE_FLAGS, "--ro-bind", "/", "/", "--proc", "/proc", "true"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap cannot start ({err})"
    if probe.returncode != 0:
        why = probe.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap cannot create namespaces here ({' '.join(why)})"
    return None


_NAMESPACE_FLAGS = (
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
)


@dataclass(frozen=True)
class Confinement:
    """What the referee needs to start one contestant."""

    argv: list[str]
    env: dict[str, str]
    preexec: Callable[[], None]
    level: str
    cgroup: Path | None = None  # its pids cgroup, for release_cgroup() once it has ended


def confine(
    command: list[str],
    *,
    scratch: Path,
    hidden: Iterable[Path],
    needed: Iterable[Path],
    threads: int,
    cuda: bool,
    cpu_seconds: int,
    extra_env: dict[str, str] | None = None,
    level: str | None = None,
    cpus: tuple[int, ...] | None = None,
    listable: Iterable[Path] = (),
    tcp: bool = False,
) -> Confinement:
    """``command`` wrapped for the sandbox: ``hidden`` folders are replaced by empty ones (then
    ``needed`` folders below them are mounted back read-only, and the hidden ones that lie below
    a needed one are hidden again). ``cpus``: the cores the contestant is pinned to. With
    Landlock, ``listable`` folders may be listed but nothing in them read (landlock.rules), and
    TCP is refused unless ``tcp``."""
    chosen = level or sandbox_level().level
    env = contestant_env(scratch, threads, extra_env)
    cgroup = new_cgroup()
    tasks = None if cgroup is not None or os.geteuid() == 0 else _user_tasks() + MAX_TASKS
    if chosen == "landlock" and landlock.abi() > 0:
        version = landlock.abi()
        path_rules = landlock.rules(
            scratch=scratch, needed=needed, hidden=hidden, version=version, listable=listable
        )
        preexec = _limits(
            cpu_seconds,
            cpus,
            cgroup,
            tasks,
            outside_namespaces=True,
            landlock_restrict=partial(landlock.restrict, version, path_rules, not tcp),
        )
        return Confinement(command, env, preexec, "landlock", cgroup)
    if chosen != "namespaces":
        preexec = _limits(cpu_seconds, cpus, cgroup, tasks, outside_namespaces=True)
        return Confinement(command, env, preexec, "rlimits", cgroup)
    # bubblewrap needs root's capabilities to set up; it drops them itself
    preexec = _limits(cpu_seconds, cpus, cgroup, tasks)
    bwrap = shutil.which("bwrap") or "bwrap"
    hidden_dirs = sorted({p.resolve() for p in hidden if p.is_dir()}, key=lambda p: len(p.parts))
    needed_dirs = sorted({p.resolve() for p in needed if p.exists()}, key=lambda p: len(p.parts))
    tmp_size, hidden_size = _tmpfs_sizes(bwrap)
    argv = [bwrap, "--ro-bind", "/", "/", *_device_folder(tmp_size, cuda=cuda)]
    argv += ["--proc", "/proc", *tmp_size, "--tmpfs", "/tmp"]
    for path in hidden_dirs:
        argv += [*hidden_size, "--tmpfs", str(path)]
    tmp = Path("/tmp").resolve()
    for path in needed_dirs:  # e.g. a Python installed under /tmp, or in a hidden home
        if _below(path, tmp) or any(_below(path, h) for h in hidden_dirs):
            argv += ["--ro-bind", str(path), str(path)]
    for path in hidden_dirs:
        if any(_below(path, n) and path != n for n in needed_dirs):
            argv += [*hidden_size, "--tmpfs", str(path)]
    argv += ["--bind", str(scratch), str(scratch), "--chdir", str(scratch)]
    argv += [*_NAMESPACE_FLAGS, "--cap-drop", "ALL", "--", *command]
    return Confinement(argv, env, preexec, "namespaces", cgroup)


def _device_folder(shm_size: list[str], *, cuda: bool, devices: Path = Path("/dev")) -> list[str]:
    """bubblewrap's ``/dev``: its own minimal one (null, zero, random, tty, pts), read-only, so
    that nothing can be stored there (its tmpfs has no size cap), with a size-capped ``/dev/shm``;
    with ``cuda``, the NVIDIA device nodes bound in as well. Never the host's whole ``/dev``:
    its device nodes belong to root, which a root contestant still is without capabilities
    (disks among them, where the host's device rules allow), and files it keeps in the host's
    ``/dev/shm`` outlive the grade."""
    argv = ["--dev", "/dev"]
    if cuda:
        for node in sorted(devices.glob("nvidia*")):
            argv += ["--dev-bind", str(node), f"/dev/{node.name}"]
    return [*argv, *shm_size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]


@cache
def _tmpfs_sizes(bwrap: str) -> tuple[list[str], list[str]]:
    """bubblewrap's size options for the in-memory /tmp and for the empty folders over hidden
    ones (files there live in RAM; the referee counts them against the contestant's memory,
    and the caps keep a runaway writer from filling the machine's memory first). Empty where
    this bubblewrap predates --size (0.8)."""
    try:
        usage = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return [], []
    if "--size" not in usage.stdout + usage.stderr:
        return [], []
    return ["--size", str(TMP_BYTES)], ["--size", str(HIDDEN_TMPFS_BYTES)]


def contestant_env(scratch: Path, threads: int, extra: dict[str, str] | None) -> dict[str, str]:
    """A stripped environment: nothing of the user's but the locale, no LATENCY_QUIZ_*."""
    home = scratch / "home"
    tmp = scratch / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    python_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OMP_WAIT_POLICY": "PASSIVE",  # no spinning threads between calls
        "TORCH_EXTENSIONS_DIR": str(scratch / "torch_extensions"),
        "TRITON_CACHE_DIR": str(scratch / "triton"),
        # A fixed mmap threshold: large freed buffers (weights, caches) go back to the system
        # at once, so what /proc shows is what the process holds, the same way in every
        # contestant; below it, temporaries are reused from the heap as usual (at 128 KiB every
        # activation was a fresh mmap, and that cost, not the code, dominated int8-ptq's timing).
        "MALLOC_MMAP_THRESHOLD_": str(4 * 2**20),
    }
    for name in ("CUDA_VISIBLE_DEVICES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


def _limits(
    cpu_seconds: int,
    cpus: tuple[int, ...] | None,
    cgroup: Path | None,
    tasks: int | None,
    *,
    outside_namespaces: bool = False,
    landlock_restrict: Callable[[], None] | None = None,
) -> Callable[[], None]:
    """The child's limits. ``outside_namespaces`` (the rlimits level): it also drops root's
    capabilities, and becomes the subreaper of its own descendants, so that a process it detaches
    (fork, ``setsid``, parent exits) stays in its process tree, where the referee counts its CPU
    time and memory and stops it with the rest; in a PID namespace its init does that."""

    def apply() -> None:  # runs in the child between fork and exec
        if cgroup is not None:  # first, while it may still write there
            with contextlib.suppress(OSError):
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        if tasks is not None:
            _set_limit(resource.RLIMIT_NPROC, tasks)
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)
        _set_limit(resource.RLIMIT_NOFILE, _OPEN_FILES)
        _set_limit(resource.RLIMIT_FSIZE, _FILE_SIZE)
        _set_limit(resource.RLIMIT_CORE, 0)
        _set_limit(resource.RLIMIT_CPU, max(1, cpu_seconds))
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if outside_namespaces:
                libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
                _drop_capabilities(libc)
        if landlock_restrict is not None:  # last, never skipped: it fails the start instead
            landlock_restrict()

    return apply


@dataclass(frozen=True)
class ProcessCap:
    kind: str  # "cgroup", "rlimit" or "none"
    description: str


@cache
def process_cap() -> ProcessCap:
    """How the number of processes and threads of a contestant is capped on this machine."""
    root = _cgroup_root()
    if root is not None:
        return ProcessCap("cgroup", f"{MAX_TASKS} tasks per contestant (a pids cgroup in {root})")
    if os.geteuid() != 0:
        return ProcessCap("rlimit", f"RLIMIT_NPROC: this user's tasks plus {MAX_TASKS}")
    return ProcessCap(
        "none",
        "not capped: root is exempt from RLIMIT_NPROC and no pids cgroup can be made here",
    )


_PTRACE_SCOPE = Path("/proc/sys/kernel/yama/ptrace_scope")


def contestant_memory_reads(scope_file: Path = _PTRACE_SCOPE) -> tuple[bool, str]:
    """Whether the referee may read a contestant's memory (``process_vm_readv``: how a frozen
    contestant's reply tensors are read, fused-kernel's on a CPU), and why. Yama's ptrace scope
    decides: 0 or 1 let a process read its descendants, 2 only with CAP_SYS_PTRACE, 3 never."""
    try:
        scope = int(scope_file.read_text().strip())
    except (OSError, ValueError):
        return True, "allowed (no Yama ptrace restriction here)"
    setting = f"kernel.yama.ptrace_scope = {scope}"
    if scope <= 1 or (scope == 2 and os.geteuid() == 0):
        return True, f"allowed ({setting})"
    return False, (
        f"refused ({setting}): fused-kernel's CPU grade cannot read its contestants' output; "
        "set it to 1 (sysctl kernel.yama.ptrace_scope=1) or grade as root"
    )


@cache
def _cgroup_root() -> Path | None:
    """A folder where this process may make pids cgroups (cgroup v1's pids hierarchy, or the
    root of cgroup v2 with the pids controller on), probed by making one; None if nowhere."""
    v1 = Path("/sys/fs/cgroup/pids")
    v2 = Path("/sys/fs/cgroup")
    candidates = [v1] if (v1 / "cgroup.procs").exists() else []
    with contextlib.suppress(OSError):
        if "pids" in (v2 / "cgroup.subtree_control").read_text().split():
            candidates.append(v2)
    for parent in candidates:
        root = parent / "latency-quiz"
        probe = root / f"probe-{os.getpid()}"
        try:
            root.mkdir(exist_ok=True)
            probe.mkdir(exist_ok=True)
            (probe / "pids.max").write_text(str(MAX_TASKS))
        except OSError:
            continue
        finally:
            with contextlib.suppress(OSError):
                probe.rmdir()
        return root
    return None


def new_cgroup() -> Path | None:
    """A fresh pids cgroup capped at ``MAX_TASKS`` (None where none can be made). Empty ones left
    by processes that no longer exist are removed on the way."""
    root = _cgroup_root()
    if root is None:
        return None
    for stale in root.iterdir():
        owner = stale.name.partition("-")[0]
        if stale.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(OSError):
                stale.rmdir()
    path = root / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(MAX_TASKS))
    except OSError:
        with contextlib.suppress(OSError):
            path.rmdir()
        return None
    return path


def release_cgroup(path: Path) -> None:
    """Kill whatever is still in the cgroup (a process that left the contestant's session or
    PID tree included) and remove it."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            pids = [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    with contextlib.suppress(OSError):
        path.rmdir()


def _user_tasks() -> int:
    """Processes and threads of this user now (what RLIMIT_NPROC counts)."""
    uid = str(os.getuid())
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, KeyError):
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            if fields["Uid"].split()[0] == uid:
                total += int(fields["Threads"])
    return total


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    """No capabilities after exec, even as root: with an empty bounding set and no new privileges
    a root contestant cannot read or write the referee's memory through /proc (the referee is
    not dumpable, which only CAP_SYS_PTRACE overrides) nor regain them through a setuid file."""
    for capability in range(_CAPABILITIES):
        libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


# Classic BPF for seccomp: "return EPERM for sched_setaffinity, and for every system call made
# through another ABI (x32 numbers, 32-bit int 0x80), allow the rest".
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JSET_K, _BPF_AND_K, _BPF_RET_K = 0x20, 0x15, 0x45, 0x54, 0x06
_SECCOMP_RET_ALLOW, _SECCOMP_RET_EPERM = 0x7FFF0000, 0x00050000 | 1
_SECCOMP_RET_ENOSYS = 0x00050000 | 38
_X32_SYSCALL_BIT = 0x40000000
_SECCOMP_ARG0 = 16  # offset of the low 32 bits of args[0] in seccomp_data (little-endian)
_CLONE_PARENT = 0x00008000
# The system calls a contestant is refused: sched_setaffinity (it stays on the cores it was
# pinned to), shmget and msgget (System V shared memory and message queues outlive every
# process that used them and hold memory the referee cannot read from outside), io_uring_setup
# (its requests, a socket's creation among them, are not seen by this filter).
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_REFUSED_SYSCALLS = {
    "x86_64": {"sched_setaffinity": 203, "shmget": 29, "msgget": 68, "io_uring_setup": 425},
    "aarch64": {"sched_setaffinity": 122, "shmget": 194, "msgget": 186, "io_uring_setup": 425},
}
# Refused by their first argument, so that no process leaves the contestant's process tree:
# clone with CLONE_PARENT (the new process would be its parent's child: the first process's
# sibling, outside the tree) and prctl(PR_SET_CHILD_SUBREAPER) (unset, what it detaches would go
# to the referee). clone3 passes its flags in memory, which seccomp cannot read: it answers
# ENOSYS, on which the C library falls back to clone.
_REFUSED_ARGUMENTS = {
    "x86_64": {
        "clone": (56, ((_BPF_JSET_K, _CLONE_PARENT),)),
        "prctl": (157, ((_BPF_JEQ_K, _PR_SET_CHILD_SUBREAPER),)),
    },
    "aarch64": {
        "clone": (220, ((_BPF_JSET_K, _CLONE_PARENT),)),
        "prctl": (167, ((_BPF_JEQ_K, _PR_SET_CHILD_SUBREAPER),)),
    },
}
# Without ``internet``, socket() for IPv4 and IPv6 is refused as well: outside a network
# namespace, Landlock refuses only TCP, and two contestants (a group's ranks) could trade data
# over UDP on 127.0.0.1 that no collective relayed by the referee counts.
_AF_INET, _AF_INET6 = 2, 10
_SOCKET = {"x86_64": 41, "aarch64": 198}
_CLONE3 = 435
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


def refuse_syscalls(*, internet: bool) -> bool:
    """Install a seccomp filter on the calling process (inherited by every thread and child it
    starts later, and never removable) that refuses ``sched_setaffinity`` (a contestant stays on
    the cores the referee pinned it to, so it cannot move its calls to an idler core than the
    baseline gets), System V ``shmget`` and ``msgget`` (memory that no process holds, so
    ``/proc`` cannot show it), ``io_uring_setup``, the ways out of its process tree
    (``_REFUSED_ARGUMENTS``) and, unless ``internet``, IPv4 and IPv6 sockets.
    False where the architecture or kernel does not allow it."""
    machine = platform.machine()
    if machine not in _AUDIT_ARCH:
        return False
    program = [
        (_BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_BPF_JEQ_K, 1, 0, _AUDIT_ARCH[machine]),
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_EPERM),
        (_BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    for number in _REFUSED_SYSCALLS[machine].values():
        program += [(_BPF_JEQ_K, 0, 1, number), (_BPF_RET_K, 0, 0, _SECCOMP_RET_EPERM)]
    program += [(_BPF_JEQ_K, 0, 1, _CLONE3), (_BPF_RET_K, 0, 0, _SECCOMP_RET_ENOSYS)]
    refused_arguments: list[tuple[int, tuple[tuple[int, int], ...]]]
    refused_arguments = list(_REFUSED_ARGUMENTS[machine].values())
    if not internet:
        refused_arguments.append(
            (_SOCKET[machine], ((_BPF_JEQ_K, _AF_INET), (_BPF_JEQ_K, _AF_INET6)))
        )
    for number, tests in refused_arguments:
        program += [
            (_BPF_JEQ_K, 0, 2 * len(tests) + 2, number),
            (_BPF_LD_W_ABS, 0, 0, _SECCOMP_ARG0),
        ]
        for test, value in tests:
            program += [(test, 0, 1, value), (_BPF_RET_K, 0, 0, _SECCOMP_RET_EPERM)]
        program.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    if machine == "x86_64":  # x32 numbers are the same calls with a high bit set: refused
        program += [
            (_BPF_AND_K, 0, 0, _X32_SYSCALL_BIT),
            (_BPF_JEQ_K, 0, 1, 0),
            (_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
            (_BPF_RET_K, 0, 0, _SECCOMP_RET_EPERM),
        ]
    else:
        program.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    filters = b"".join(struct.pack("=HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(filters, len(filters))

    class _Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = _Program(len(program), ctypes.addressof(buffer))
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return bool(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0)


def limit_private_memory(budget_bytes: int) -> None:
    """Cap the private writable memory the calling process can map (``RLIMIT_DATA``: the heap and
    the private mappings tensors live in) at what it maps now plus ``budget_bytes``, soft and
    hard, so code that runs later cannot lift it. No-op without /proc.

    Not ``RLIMIT_AS``: with any finite address-space limit (even 400 GB) about half of the
    processes ran the same single-thread matmul work 16-30 % slower on an AMD EPYC KVM guest,
    so two contestants pinned to one core measured unequal speeds for identical code. Shared
    memory is not capped here; ``Contestant.memory()`` counts it and /tmp is size-capped."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        in_use = int(fields["VmData"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return
    _set_limit(resource.RLIMIT_DATA, in_use + budget_bytes)


def _set_limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(which, (value, value))


def _below(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents
