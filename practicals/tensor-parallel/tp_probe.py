"""The referee's view of a rank group, read from /proc (Linux): per-process resident memory and
its peak, bytes written by system calls (socket traffic included) and CPU time.

Nothing here asks the contestant anything: the numbers come from the kernel's accounting of the
contestant's process tree, which the code under test cannot rewrite.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessSample:
    pid: int
    rss: int  # bytes resident now
    peak_rss: int  # bytes resident at most since the last reset_peaks
    written: int  # bytes written by write-type system calls (pipes, sockets, files)
    cpu_s: float  # user + system CPU seconds


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants alive now, parents first (bubblewrap left out)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = _stat_fields(int(entry.name))[1]
        except OSError:
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        if _command(pid) != "bwrap":  # bubblewrap's own small processes
            found.append(pid)
        stack.extend(sorted(children.get(pid, []), reverse=True))
    return found


def sample_tree(root: int) -> dict[int, ProcessSample]:
    """A sample of every process in ``root``'s tree (those that vanish meanwhile are skipped)."""
    samples = {}
    for pid in tree_pids(root):
        try:
            samples[pid] = sample(pid)
        except OSError:
            continue
    return samples


def sample(pid: int) -> ProcessSample:
    status = _keyed(PROC / str(pid) / "status", ":")
    io = _keyed(PROC / str(pid) / "io", ":")
    fields = _stat_fields(pid)
    return ProcessSample(
        pid=pid,
        rss=_kib(status.get("VmRSS", "0 kB")),
        peak_rss=_kib(status.get("VmHWM", "0 kB")),
        written=int(io["wchar"]),
        cpu_s=(fields[11] + fields[12]) / CLOCK_TICKS,
    )


def reset_peaks(root: int) -> None:
    """Reset the peak resident memory of every process in the tree to its current value."""
    for pid in tree_pids(root):
        try:
            (PROC / str(pid) / "clear_refs").write_text("5")
        except OSError:
            continue


def _command(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[int]:
    """The numeric fields of /proc/PID/stat after the command name (ppid is index 1,
    utime 11, stime 12)."""
    raw = (PROC / str(pid) / "stat").read_text()
    rest = raw[raw.rindex(")") + 2 :].split()
    return [int(x) if x.lstrip("-").isdigit() else 0 for x in rest]


def _keyed(path: Path, sep: str) -> dict[str, str]:
    pairs = (line.split(sep, 1) for line in path.read_text().splitlines() if sep in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _kib(value: str) -> int:
    return int(value.split()[0]) * 1024
