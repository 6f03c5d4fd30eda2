"""Landlock: the kernel's unprivileged access control, the sandbox level where bubblewrap cannot
make namespaces (it is not installed, or a container refuses user namespaces).

A contestant confined with it may read and execute only beneath the folders it needs (the system's
``/usr``, ``/etc``, ... and the interpreter's prefixes), read and write only beneath its scratch
folder, and never beneath a hidden folder (home, data directory, practicals, the grade's other
contestants): the rules are added around those, since a Landlock rule cannot take a subfolder
back. From ABI 4 it cannot bind or connect TCP sockets; from ABI 6 it cannot signal a process
outside its own domain (the baseline, the referee) nor reach an abstract Unix socket of one.
Landlock also keeps it from tracing or reading the memory of any process outside its domain.

The rules are computed in the referee (``rules``); ``restrict`` runs in the child between fork
and exec, and the exec'd contestant and all it starts keep them, with no way back.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# The system calls have the same numbers on every architecture (the unified table).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_ABI1_FS = (1 << 13) - 1  # execute .. make_sym
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # what a file rule may hold
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

READ_ONLY = EXECUTE | READ_FILE | READ_DIR
# /dev may be listed; only these device files (and a GPU's, nvidia*) opened, read, written and
# given ioctls; nothing made there, and no other process's /dev/shm files or the host's disks.
DEVICES = READ_ONLY | WRITE_FILE | IOCTL_DEV
DEVICE_FILES = ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts")
SYSTEM_READ_ONLY = (
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc",
    "/opt",
    "/proc",
    "/sys",
)


@cache
def abi() -> int:
    """The Landlock ABI version this kernel offers; 0 where it has none (or it is disabled)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = int(libc.syscall(_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def handled_fs(version: int) -> int:
    """Every file system right the kernel knows at ``version``: all are refused but by a rule."""
    rights = _ABI1_FS
    if version >= 2:
        rights |= REFER
    if version >= 3:
        rights |= TRUNCATE
    if version >= 5:
        rights |= IOCTL_DEV
    return rights


def covers(version: int) -> list[str]:
    """What a Landlock domain at ``version`` keeps a contestant from, in words (for ``doctor``)."""
    found = ["writes only in its scratch folder", "home, data and practicals unreadable"]
    if version >= 4:
        found.append("no TCP")
    if version >= 6:
        found.append("cannot signal the baseline or the referee")
    return found


@dataclass(frozen=True)
class Rule:
    path: str
    rights: int


def rules(
    *,
    scratch: Path,
    needed: Iterable[Path],
    hidden: Iterable[Path],
    version: int,
    listable: Iterable[Path] = (),
) -> list[Rule]:
    """The rules of one contestant: read-only beneath the system's folders and ``needed`` (the
    interpreter and the quiz package, wanted even inside a hidden folder, as with bubblewrap),
    everything beneath ``scratch``; nothing inside a hidden folder. Where a hidden folder lies
    below an allowed one, the allowed one is replaced by its entries, down to the hidden one's
    siblings (its name can still be listed, its files not read). ``listable`` folders may be
    listed, not read: the source tree above an editable install's quiz package, which Python's
    import system lists to find the package."""
    handled = handled_fs(version)
    hidden_paths = {p.resolve() for p in hidden}
    found: list[Rule] = []
    seen: set[Path] = set()

    def allow(path: Path, rights: int, blockers: set[Path]) -> None:
        if path in seen or not path.exists():
            return
        if any(h == path or h in path.parents for h in blockers):
            return
        seen.add(path)
        inner = {h for h in blockers if path in h.parents}
        if not inner:
            found.append(Rule(str(path), rights if path.is_dir() else rights & _FILE_RIGHTS))
            return
        found.append(Rule(str(path), READ_DIR))
        try:
            children = sorted(path.iterdir())
        except OSError:  # a folder this user cannot list: nothing in it is allowed
            return
        for child in children:
            allow(child.resolve(), rights, blockers)

    for folder in SYSTEM_READ_ONLY:
        allow(Path(folder).resolve(), READ_ONLY, hidden_paths)
    devices = Path("/dev").resolve()
    found.append(Rule(str(devices), READ_DIR))
    for node in (*(devices / name for name in DEVICE_FILES), *sorted(devices.glob("nvidia*"))):
        allow(node.resolve(), DEVICES, hidden_paths)
    for path in needed:
        resolved = path.resolve()
        around = {h for h in hidden_paths if h == resolved or h in resolved.parents}
        allow(resolved, READ_ONLY, hidden_paths - around)
    found += [Rule(str(path.resolve()), READ_DIR) for path in listable if path.is_dir()]
    found.append(Rule(str(scratch.resolve()), handled))
    return [Rule(rule.path, rule.rights & handled) for rule in found]


class LandlockError(OSError):
    pass


def restrict(version: int, path_rules: list[Rule], refuse_tcp: bool = True) -> None:
    """Confine the calling process (and what it execs and starts) to ``path_rules``, with no TCP
    bind or connect if ``refuse_tcp``. Raises LandlockError: a contestant that cannot be confined
    must not start."""
    libc = ctypes.CDLL(None, use_errno=True)
    handled = handled_fs(version)
    attr = struct.pack("=Q", handled)
    if version >= 4:
        attr += struct.pack("=Q", _NET_BIND_TCP | _NET_CONNECT_TCP if refuse_tcp else 0)
    if version >= 6:
        attr += struct.pack("=Q", _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = int(libc.syscall(_CREATE_RULESET, buffer, len(attr), 0))
    if ruleset < 0:
        raise LandlockError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for rule in path_rules:
            try:
                fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                beneath = ctypes.create_string_buffer(struct.pack("=Qi", rule.rights, fd), 12)
                if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, beneath, 0) != 0:
                    raise LandlockError(ctypes.get_errno(), f"landlock_add_rule {rule.path}")
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if libc.syscall(_RESTRICT_SELF, ruleset, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
