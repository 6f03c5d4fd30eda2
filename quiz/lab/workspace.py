"""Practical workspaces: the folder a user edits (starter as solution.py, README, extra files)."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

from quiz import config
from quiz.errors import QuizError
from quiz.lab.catalog import get_practical

MARKER = ".practical.json"


class WorkspaceExistsError(QuizError):
    """A workspace already holds a solution.py that would be overwritten."""


def default_workspace(practical_id: str) -> Path:
    return config.workspace_dir() / practical_id


def start_workspace(practical_id: str, dir: Path | None = None, *, overwrite: bool = False) -> Path:
    """Create the workspace for a practical and return its path.

    Copies ``starter.py`` as ``solution.py``, the README and the practical's ``workspace_files``,
    and writes ``.practical.json`` (practical id and a random per-user seed). An existing
    ``solution.py`` is never overwritten unless ``overwrite``: WorkspaceExistsError instead.
    """
    practical = get_practical(practical_id)
    folder = (dir or default_workspace(practical_id)).expanduser().resolve()
    solution = folder / "solution.py"
    if solution.exists() and not overwrite:
        raise WorkspaceExistsError(f"{solution} already exists; your work there is kept")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(practical.file("starter.py"), solution)
    shutil.copyfile(practical.file("README.md"), folder / "README.md")
    for name in practical.spec.workspace_files:
        shutil.copyfile(practical.file(name), folder / Path(name).name)
    marker = {"id": practical_id, "seed": secrets.randbits(31)}
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return folder


def workspace_practical(folder: Path) -> str | None:
    """The practical id a workspace was started for, if it has a readable marker."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("id") if isinstance(data, dict) else None
