"""Tamper checks: after the submission is imported (and after grading) the timers, key torch
functions, the lab's own modules and the practical's support modules must still be the objects
they were before the submission ran.

This catches monkeypatching (a faster ``time.perf_counter``, a slowed-down baseline model, an
``assert_close`` that always passes). It is not a sandbox: code running in the same process can
always do worse, and the lab says so in its docs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import torch
import torch.nn.functional as F

from quiz.lab.api import SubmissionError

_TIMERS = ("perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns")
_TORCH_FUNCTIONS = (
    "matmul",
    "mm",
    "bmm",
    "softmax",
    "equal",
    "allclose",
    "set_num_threads",
    "get_num_threads",
    "randn",
    "randint",
    "empty",
    "zeros",
)
# (torch.manual_seed is left out: importing torch._dynamo, which torch does lazily, wraps it.)
_LAB_MODULES = ("quiz.lab.api", "quiz.lab.harness", "quiz.lab.guard")
_METHOD_TYPES = (FunctionType, staticmethod, classmethod, property)


class Guard:
    """Remembers the identity of every watched attribute; ``verify`` names what changed."""

    def __init__(self) -> None:
        self._watched: dict[tuple[int, str], tuple[Any, str, str, Any]] = {}

    def snapshot(self, practical_dir: Path) -> None:
        self._watch_all(time, _TIMERS, "time")
        self._watch_all(torch, _TORCH_FUNCTIONS, "torch")
        self._watch_all(F, ("linear", "softmax", "scaled_dot_product_attention"), "F")
        self._watch_all(torch.Tensor, ("__matmul__", "matmul", "copy_", "equal"), "Tensor")
        self._watch_all(torch.nn.Linear, ("forward",), "nn.Linear")
        self._watch_all(torch.nn.Module, ("__call__", "_call_impl"), "nn.Module")
        self._watch_all(torch.testing, ("assert_close",), "torch.testing")
        self._watch_all(torch.profiler, ("profile", "record_function"), "torch.profiler")
        if torch.cuda.is_available():
            self._watch_all(torch.cuda, ("synchronize", "Event"), "torch.cuda")
        for name in _LAB_MODULES:
            self._watch_module(sys.modules[name])
        root = practical_dir.resolve()
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if file and Path(file).resolve().is_relative_to(root):
                self._watch_module(module)

    def verify(self) -> None:
        """Raise SubmissionError naming every watched attribute that was replaced."""
        changed = [
            label
            for owner, name, label, original in self._watched.values()
            if _lookup(owner, name) is not original
        ]
        if changed:
            shown = ", ".join(sorted(changed)[:5])
            raise SubmissionError(
                f"the submission replaced lab or torch internals ({shown}); "
                "timers, torch functions and the practical's modules must stay untouched"
            )

    def _watch_module(self, module: ModuleType) -> None:
        """Functions and classes (and their methods) only: plain module globals may legitimately
        be rebound, e.g. a lazily built model."""
        for name, value in list(vars(module).items()):
            if name.startswith("__") or not isinstance(value, (FunctionType, type)):
                continue
            self._watch(module, name, f"{module.__name__}.{name}")
            if isinstance(value, type) and value.__module__ == module.__name__:
                for attr, member in list(vars(value).items()):
                    if isinstance(member, _METHOD_TYPES):
                        self._watch(value, attr, f"{module.__name__}.{name}.{attr}")

    def _watch_all(self, owner: Any, names: tuple[str, ...], prefix: str) -> None:
        for name in names:
            if hasattr(owner, name):
                self._watch(owner, name, f"{prefix}.{name}")

    def _watch(self, owner: Any, name: str, label: str) -> None:
        value = _lookup(owner, name)
        if value is not _MISSING:
            self._watched[(id(owner), name)] = (owner, name, label, value)


class _Missing:
    pass


_MISSING = _Missing()


def _lookup(owner: Any, name: str) -> Any:
    # vars() rather than getattr: a bound method is a fresh object on every getattr.
    namespace = vars(owner) if hasattr(owner, "__dict__") else {}
    if name in namespace:
        return namespace[name]
    return getattr(owner, name, _MISSING)
