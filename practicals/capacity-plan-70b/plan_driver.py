"""The contestant's endpoint for capacity-plan-70b (runs in the sandboxed contestant, never in
the grader's process): ``plan()`` returns what ``solution.plan()`` returns, as plain data. The
capacity model and its optimizer stay with the grader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def serve(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    make_plan = getattr(solution, "plan", None)
    if not callable(make_plan):
        raise AttributeError("solution.py must define plan() returning the plan as a mapping")
    return {"plan": make_plan}
