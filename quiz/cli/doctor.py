"""`latency-quiz doctor`: what this machine offers the practicals, and where data lives."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from quiz import __version__
from quiz.cli._common import CliContext, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="show Python, torch build, CPU, GPU (via NVML) and data paths",
        description="Report the environment practicals are measured on, and where your data lives.",
    )
    doctor.add_argument("--json", action="store_true", help="print JSON")
    doctor.set_defaults(func=cmd_doctor)


def torch_report() -> dict[str, Any]:
    try:
        import torch
    except ImportError as err:
        return {"installed": False, "error": str(err)}
    report: dict[str, Any] = {
        "installed": True,
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "threads": torch.get_num_threads(),
    }
    if report["cuda_available"]:
        report["cuda_devices"] = [
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        ]
    return report


def distributed_report() -> dict[str, Any]:
    """The torch.distributed backends this torch build has, and whether the process group the
    tensor-parallel practical's ranks use (the referee's, ``quiz.lab.collectives``) starts."""
    try:
        import torch.distributed as dist
    except ImportError as err:
        return {
            "backends": [],
            "group": f"cannot start: torch.distributed is not importable: {err}",
        }
    if not dist.is_available():
        return {"backends": [], "group": "cannot start: this torch build has no torch.distributed"}
    found = {"gloo": dist.is_gloo_available(), "nccl": dist.is_nccl_available()}
    found["mpi"] = dist.is_mpi_available()
    backends = [name for name, present in found.items() if present]
    return {"backends": backends, "group": _referee_group_starts(dist)}


def _referee_group_starts(dist: Any) -> str:
    """Start and stop a one-rank group of the referee's backend, as a tensor-parallel rank does."""
    from quiz.lab.collectives import init_rank

    try:
        init_rank(0, 1)
        dist.destroy_process_group()
    except Exception as err:  # noqa: BLE001 - whatever stops it is the answer
        return f"cannot start: {err}"
    return "starts"


def store_report(ctx: CliContext) -> dict[str, Any]:
    """The database backend, its server version and who is signed in (or why it won't open)."""
    from quiz.errors import QuizError

    try:
        store = ctx.store()
    except QuizError as err:
        return {"error": str(err)}
    return {**store.server(), "user": store.user}


def collect(ctx: CliContext) -> dict[str, Any]:
    from quiz import config, judge
    from quiz.lab.catalog import list_practicals
    from quiz.lab.device import cpu_stamp, grading_threads, nvml_summary

    practicals = list_practicals()
    capped = {p.spec.id: p.spec.max_threads for p in practicals if p.spec.max_threads}
    return {
        "latency_quiz": __version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "cpu": cpu_stamp(),
        "torch": torch_report(),
        "distributed": distributed_report(),
        "sandbox": sandbox_report(),
        "nvml": nvml_summary(),
        "paths": {
            "data_dir": str(config.data_dir()),
            "database": config.database_url(ctx.db_url),
            "bank": str(config.bank_dir()),
            "practicals": str(config.practicals_dir()),
        },
        "bank_questions": len(ctx.bank().questions),
        "judge": judge.describe(),
        "store": store_report(ctx),
        "practicals": {
            "total": len(practicals),
            "available": sum(1 for p in practicals if p.availability.available),
            "caveats": {
                p.spec.id: p.availability.caveat for p in practicals if p.availability.caveat
            },
            "grading_threads": grading_threads(),
            "max_threads": capped,
        },
    }


def sandbox_report() -> dict[str, str]:
    """How graded code is confined on this machine (docs/lab.md)."""
    from quiz.lab.sandbox import contestant_memory_reads, process_cap, sandbox_level

    level = sandbox_level()
    cap = process_cap()
    return {
        "level": level.level,
        "reason": level.reason,
        "description": level.describe(),
        "processes": cap.description,
        "memory_reads": contestant_memory_reads()[1],
    }


def _backend_line(store: dict[str, Any]) -> str:
    if "error" in store:
        return f"not opened: {store['error']}"
    return f"{store['backend']} {store['version']}"


def _distributed_line(report: dict[str, Any]) -> str:
    backends = ", ".join(report["backends"]) or "none"
    return (
        f"backends: {backends}; the referee's process group (tensor-parallel's ranks) "
        f"{report['group']}"
    )


def _practicals_line(practicals: dict[str, Any]) -> str:
    line = f"{practicals['available']} of {practicals['total']} available on this machine"
    for practical_id, caveat in practicals["caveats"].items():
        line += f"; {practical_id}: {caveat}"
    return line


def _grading_line(practicals: dict[str, Any]) -> str:
    threads = practicals["grading_threads"]
    line = (
        f"{threads} torch thread{'' if threads == 1 else 's'} per graded process (half the "
        "cores, up to 8)"
    )
    capped = practicals["max_threads"]
    if capped:
        line += "; " + ", ".join(f"{name} {n}" for name, n in sorted(capped.items()))
    return line


def cmd_doctor(args: argparse.Namespace, ctx: CliContext) -> int:
    info = collect(ctx)
    if args.json:
        print_json(info)
        return 0
    torch_info = info["torch"]
    if torch_info["installed"]:
        cuda = "CUDA available" if torch_info["cuda_available"] else "no CUDA device"
        torch_line = (
            f"{torch_info['version']} (CUDA build: {torch_info['cuda_build'] or 'none'}; "
            f"{cuda}; {torch_info['threads']} threads)"
        )
    else:
        torch_line = f"not importable: {torch_info['error']}"
    nvml = info["nvml"]
    gpus = ", ".join(g["name"] for g in nvml["gpus"]) or f"none (NVML: {nvml['status']})"
    cpu = info["cpu"]
    rows = [
        ("latency-quiz", info["latency_quiz"]),
        ("Python", f"{info['python']} ({info['executable']})"),
        ("CPU", f"{cpu['cpu_model']}, {cpu['cpu_cores']} cores ({cpu['platform']})"),
        ("torch", torch_line),
        ("Grading", _grading_line(info["practicals"])),
        ("GPU", gpus),
        ("Distributed", _distributed_line(info["distributed"])),
        ("Sandbox", info["sandbox"]["description"]),
        ("Processes", info["sandbox"]["processes"]),
        ("Memory reads", info["sandbox"]["memory_reads"]),
        ("Data dir", info["paths"]["data_dir"]),
        ("Database", info["paths"]["database"]),
        ("Backend", _backend_line(info["store"])),
        ("User", info["store"].get("user", "unknown (database not opened)")),
        ("Bank", f"{info['bank_questions']} questions in {info['paths']['bank']}"),
        ("Judge", info["judge"]),
        ("Practicals", _practicals_line(info["practicals"])),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0
