"""Compiling a kernel once: ``torch.utils.cpp_extension.load_inline`` into a build folder named
by a hash of the source, the flags and the torch version, so loading an unchanged kernel again
reuses the built library (a second or two) instead of recompiling (half a minute or more on a
CPU).

The folder is ``TORCH_EXTENSIONS_DIR`` when it is set, otherwise ``torch_extensions`` under the
user's data directory. While grading, the sandbox sets it to the contestant's own scratch
folder: every grade builds afresh, and nothing one submission's build leaves behind is ever
loaded by another grade (a cache that code under test can write is a cache it can poison)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import ModuleType

import torch
from torch.utils.cpp_extension import load_inline

from quiz.config import data_dir

CPU_FLAGS = ("-O3", "-march=native")
CUDA_FLAGS = ("-O3", "--use_fast_math")


def extensions_dir() -> Path:
    """Where built kernels live: TORCH_EXTENSIONS_DIR, or under the user's data directory."""
    configured = os.environ.get("TORCH_EXTENSIONS_DIR")
    path = Path(configured) if configured else data_dir() / "torch_extensions"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_cpu_kernel(name: str, cpp_source: str, functions: list[str]) -> ModuleType:
    """Build (or reuse) a C++ extension exposing ``functions`` from ``cpp_source``."""
    return _load(name, [cpp_source], [], functions, list(CPU_FLAGS), [])


def load_cuda_kernel(
    name: str, cpp_source: str, cuda_source: str, functions: list[str]
) -> ModuleType:
    """Build (or reuse) a CUDA extension: declarations in ``cpp_source``, kernels and their
    launchers in ``cuda_source``."""
    return _load(name, [cpp_source], [cuda_source], functions, ["-O3"], list(CUDA_FLAGS))


def _load(
    name: str,
    cpp: list[str],
    cuda: list[str],
    functions: list[str],
    cflags: list[str],
    cuda_flags: list[str],
) -> ModuleType:
    key = repr((cpp, cuda, functions, cflags, cuda_flags, torch.__version__)).encode()
    unique = f"{name}_{hashlib.sha256(key).hexdigest()[:12]}"
    build = extensions_dir() / unique
    build.mkdir(parents=True, exist_ok=True)
    return load_inline(
        name=unique,
        cpp_sources=cpp,
        cuda_sources=cuda or None,
        functions=functions,
        extra_cflags=cflags,
        extra_cuda_cflags=cuda_flags or None,
        build_directory=str(build),
        verbose=False,
    )
