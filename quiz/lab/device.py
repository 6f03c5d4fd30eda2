"""The environment stamp every result carries: which device measured it, and in what state.

``nvml_summary()`` and ``cpu_stamp()`` never import torch (the catalog uses them in the UI
process); ``environment_stamp(device)`` adds torch's view and is called by the worker.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_CPUINFO = Path("/proc/cpuinfo")


def grading_threads(cap: int | None = None) -> int:
    """The torch thread count graders run with on CPU: half the cores (at most 8), leaving
    headroom for the OS, load generators and whatever else the machine runs, which keeps
    small-op timings from collapsing under oversubscription; at most ``cap`` (a practical's
    ``max_threads``)."""
    threads = max(1, min(8, (os.cpu_count() or 2) // 2))
    return threads if cap is None else min(threads, cap)


def cores_by_idleness(sample_s: float = 0.2) -> tuple[int, ...]:
    """The cores this process may use, idlest first over a short sample of ``/proc/stat``.

    Every contestant of a grade is pinned to the same leading ones, so the baseline and the
    candidate run on the same core: on a VM two vCPUs can differ in speed by 20 % (a neighbour
    on the host), and two unpinned processes each settle on one of them, which biased every
    speed-up. Empty where the platform has no affinity or no ``/proc/stat``."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return ()
    before = _idle_ticks()
    time.sleep(sample_s)
    after = _idle_ticks()
    if not before or not after:
        return tuple(allowed)
    return tuple(sorted(allowed, key=lambda cpu: -(after.get(cpu, 0) - before.get(cpu, 0))))


def _idle_ticks() -> dict[int, int]:
    ticks: dict[int, int] = {}
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and len(fields) >= 5:
                    ticks[int(name[3:])] = int(fields[3]) + int(fields[4])  # idle + iowait
    except (OSError, ValueError):
        return {}
    return ticks


def torch_version() -> str:
    """The installed torch version, read from package metadata (no import)."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "not installed"


@cache
def nvml_summary() -> dict[str, Any]:
    """What NVML says about the GPUs: ``{"status": "ok", "driver": ..., "gpus": [...]}`` or
    ``{"status": "<why not>", "gpus": []}`` when the library, driver or GPUs are missing."""
    try:
        import pynvml
    except ImportError:
        return {"status": "nvidia-ml-py not installed", "gpus": []}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        return {"status": _nvml_reason(err), "gpus": []}
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        gpus = [_gpu_stamp(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())]
        return {"status": "ok" if gpus else "no GPUs", "driver": driver, "gpus": gpus}
    except pynvml.NVMLError as err:
        return {"status": _nvml_reason(err), "gpus": []}
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def cpu_stamp() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
    }


def environment_stamp(device: torch.device) -> dict[str, Any]:
    """The full stamp for a result measured on ``device`` (called where torch is loaded)."""
    import torch

    stamp: dict[str, Any] = {
        "device": str(device),
        "device_name": _cpu_model(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "torch_threads": torch.get_num_threads(),
        **cpu_stamp(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        stamp["device_name"] = props.name
        stamp["gpu_memory_mib"] = props.total_memory // 2**20
        stamp["gpu_l2_bytes"] = getattr(props, "L2_cache_size", None)
    nvml = nvml_summary()
    stamp["nvml"] = nvml["status"]
    if nvml["gpus"]:
        stamp["driver"] = nvml["driver"]
        index = (device.index or 0) if device.type == "cuda" else 0
        stamp["gpu"] = nvml["gpus"][min(index, len(nvml["gpus"]) - 1)]
    return stamp


def _gpu_stamp(pynvml: Any, index: int) -> dict[str, Any]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    stamp: dict[str, Any] = {
        "index": index,
        "name": _text(pynvml.nvmlDeviceGetName(handle)),
        "memory_total_mib": memory.total // 2**20,
        "memory_used_mib": memory.used // 2**20,
    }
    optional = {
        "sm_clock_mhz": lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
        "mem_clock_mhz": lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM),
        "temperature_c": lambda: pynvml.nvmlDeviceGetTemperature(
            handle, pynvml.NVML_TEMPERATURE_GPU
        ),
        "power_w": lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000,
    }
    for key, read in optional.items():
        try:
            stamp[key] = read()
        except pynvml.NVMLError:
            stamp[key] = None
    return stamp


def _nvml_reason(err: Exception) -> str:
    text = str(err).lower()
    if "driver not loaded" in text or "library not found" in text or "shared library" in text:
        return "no driver"
    return f"unavailable ({err})"


def _cpuinfo_field(names: tuple[str, ...], cpuinfo: Path) -> str | None:
    """The value of the first ``cpuinfo`` line named one of ``names``; None if none is there or
    the file cannot be read."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in names:
            return value.strip()
    return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@cache
def cpu_flags(cpuinfo: Path = _CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``); None where not readable."""
    flags = _cpuinfo_field(("flags", "Features"), cpuinfo)
    return None if flags is None else frozenset(flags.split())


def _cpu_model() -> str:
    model = _cpuinfo_field(("model name",), _CPUINFO)
    if model is not None:
        return model
    return platform.processor() or platform.machine()
