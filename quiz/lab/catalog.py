"""The practicals on disk: their spec, README (task + hint ladder) and whether this machine can
run them. Never imports torch: whether CUDA is usable comes from NVML and, only when a GPU is
there, a cached subprocess probe."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import yaml
from pydantic import ValidationError

from quiz import config
from quiz.errors import LabError, NotFoundError
from quiz.lab.api import PracticalSpec
from quiz.lab.device import cpu_flags, nvml_summary, torch_version

_PHASE_ORDER = {"foundations": 0, "core": 1, "advanced": 2}
_HINTS_HEADING = re.compile(r"^## Hints\s*$", re.MULTILINE)
_HINT_HEADING = re.compile(r"^### Hint (\d+)\s*$", re.MULTILINE)
_CUDA_PROBE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""
    caveat: str = ""  # runs here, but its grade may not be decidable on this machine


@dataclass(frozen=True)
class Practical:
    spec: PracticalSpec
    dir: Path
    readme: str  # the task, without the hints
    hints: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.spec.id

    def file(self, name: str) -> Path:
        return self.dir / name

    @property
    def controls(self) -> list[Path]:
        return sorted((self.dir / "controls").glob("*.py"))

    @cached_property
    def availability(self) -> Availability:
        if self.spec.device == "cuda":
            return cuda_availability()
        return Availability(True, caveat=cpu_caveat(self.spec))

    def summary_row(self) -> dict[str, object]:
        """The row ``practical list --json`` prints."""
        return {
            "id": self.id,
            "title": self.spec.title,
            "phase": self.spec.phase,
            "level": self.spec.level,
            "device": self.spec.device,
            "available": self.availability.available,
            "reason": self.availability.reason,
            "caveat": self.availability.caveat,
        }


def cpu_caveat(spec: PracticalSpec, flags: frozenset[str] | None = None) -> str:
    """The spec's CPU caveat where this CPU lists none of its flags ("" otherwise, or where the
    flags cannot be read)."""
    caveat = spec.cpu_caveat
    flags = cpu_flags() if flags is None else flags
    if caveat is None or flags is None or flags & set(caveat.flags_any):
        return ""
    *others, last = caveat.flags_any
    missing = f"{', '.join(others)} or {last}" if others else last
    return f"{caveat.note}; it has no {missing}"


def list_practicals(root: Path | None = None) -> list[Practical]:
    """Every valid practical under ``root`` (default: the shipped practicals), in study order."""
    return scan_practicals(root)[0]


def scan_practicals(root: Path | None = None) -> tuple[list[Practical], list[str]]:
    """(valid practicals in study order, one line per practical folder that does not load)."""
    base = root or config.practicals_dir()
    if not base.is_dir():
        return [], []
    found: list[Practical] = []
    problems: list[str] = []
    for folder in sorted(base.iterdir()):
        if not (folder / "practical.yaml").is_file():
            continue
        try:
            found.append(load_practical(folder))
        except LabError as err:
            problems.append(str(err))
    found.sort(key=lambda p: (_PHASE_ORDER[p.spec.phase], p.spec.level, p.id))
    return found, problems


def get_practical(practical_id: str, root: Path | None = None) -> Practical:
    base = root or config.practicals_dir()
    folder = base / practical_id
    if not re.fullmatch(r"[a-z0-9-]+", practical_id) or not (folder / "practical.yaml").is_file():
        known = ", ".join(p.id for p in list_practicals(root)) or "none"
        raise NotFoundError(f"no practical {practical_id!r} (known: {known})")
    return load_practical(folder)


def load_practical(folder: Path) -> Practical:
    spec_path = folder / "practical.yaml"
    try:
        raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
        spec = PracticalSpec.model_validate(raw)
    except (OSError, yaml.YAMLError) as err:
        raise LabError(f"{spec_path}: cannot read: {err}") from err
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LabError(f"{spec_path}: {where}: {first['msg']}") from err
    if spec.id != folder.name:
        raise LabError(f"{spec_path}: id {spec.id!r} must match its folder name {folder.name!r}")
    readme, hints = split_readme(folder / "README.md")
    return Practical(spec=spec, dir=folder, readme=readme, hints=hints)


def split_readme(path: Path) -> tuple[str, tuple[str, ...]]:
    """(task body, hints) from a README ending in ``## Hints`` with ``### Hint 1..3``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise LabError(f"{path}: cannot read: {err}") from err
    parts = _HINTS_HEADING.split(text, maxsplit=1)
    if len(parts) != 2:
        raise LabError(f"{path}: missing the '## Hints' section")
    body, hints_text = parts
    pieces = _HINT_HEADING.split(hints_text)
    numbers = [int(n) for n in pieces[1::2]]
    if numbers != [1, 2, 3] or pieces[0].strip():
        raise LabError(
            f"{path}: '## Hints' must hold exactly '### Hint 1', '### Hint 2', '### Hint 3'"
        )
    return body.rstrip() + "\n", tuple(h.strip() for h in pieces[2::2])


@cache
def cuda_availability() -> Availability:
    """Whether a CUDA practical can run here, and if not, why (one line)."""
    version = torch_version()
    nvml = nvml_summary()
    why_not = f"needs an NVIDIA GPU with CUDA; none found (torch {version}, NVML: {nvml['status']})"
    if not nvml["gpus"]:
        return Availability(False, why_not)
    if version == "not installed" or version.endswith("+cpu"):
        return Availability(False, f"needs a CUDA build of torch; torch {version} is CPU-only")
    probe = "import torch; print(torch.cuda.is_available())"
    try:
        out = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=_CUDA_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return Availability(False, f"needs CUDA; probing torch failed ({err})")
    if out.stdout.strip() == "True":
        return Availability(True)
    detail = (out.stderr.strip().splitlines() or ["torch.cuda.is_available() is False"])[-1]
    return Availability(False, f"needs CUDA; torch {version} cannot use the GPU ({detail})")
