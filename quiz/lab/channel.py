"""The narrow channel between the referee and a contestant: length-prefixed frames over pipes.

A frame is ``[u32 header length][u64 payload length][JSON header][raw tensor bytes]``. Values are
plain data only: ``None``, ``bool``, ``int``, ``float``, ``str``, lists (tuples become lists),
dicts with ``str`` keys (sent as ``{"d": {...}}``) and tensors (sent as ``{"t": [offset, nbytes,
dtype, shape]}`` with their bytes in the payload). The decoder builds exact ``torch.Tensor``
objects from bytes it owns, so nothing the contestant sends can run code in the referee (no
pickle), and a reply that is not plain data is refused with the reason.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_PREFIX = struct.Struct("<IQ")
MAX_HEADER_BYTES = 64 * 2**20
MAX_DEPTH = 64
_DTYPES = (
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "int8",
    "uint8",
    "int16",
    "int32",
    "int64",
    "bool",
)


class ChannelError(Exception):
    """The other side broke the protocol, closed the pipe, or took longer than allowed."""


class ChannelTimeout(ChannelError):
    pass


def encode(value: Any) -> tuple[bytes, list[memoryview]]:
    """(JSON header bytes, payload chunks) for ``value``; TypeError for anything not plain."""
    chunks: list[memoryview] = []
    offset = [0]

    def walk(item: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise TypeError("value nested too deeply")
        if item is None or isinstance(item, (bool, str)):
            return item
        if isinstance(item, int):
            return int(item)
        if isinstance(item, float):
            return float(item)
        if isinstance(item, (list, tuple)):
            return [walk(x, depth + 1) for x in item]
        if isinstance(item, dict):
            out = {}
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"dict keys must be str, not {type(key).__name__}")
                out[key] = walk(sub, depth + 1)
            return {"d": out}
        if _is_tensor(item):
            raw, dtype, shape = _tensor_bytes(item)
            start = offset[0]
            chunks.append(raw)
            offset[0] += raw.nbytes
            return {"t": [start, raw.nbytes, dtype, shape]}
        raise TypeError(f"{type(item).__name__} cannot cross the channel (plain data only)")

    header = json.dumps(walk(value, 0), separators=(",", ":")).encode()
    return header, chunks


def decode(header: bytes, payload: bytearray) -> Any:
    """The value a frame carries; ChannelError when it is malformed."""
    try:
        tree = json.loads(header)
    except ValueError as err:
        raise ChannelError(f"malformed frame header ({err})") from None
    except RecursionError:  # JSON nested deeper than the parser's own stack allows
        raise ChannelError("value nested too deeply") from None
    return _build(tree, payload, 0)


def send(fd: int, value: Any) -> None:
    header, chunks = encode(value)
    total = sum(c.nbytes for c in chunks)
    _write_all(fd, _PREFIX.pack(len(header), total) + header)
    for chunk in chunks:
        _write_all(fd, chunk)


def receive(fd: int, *, deadline: float | None = None, max_payload: int | None = None) -> Any:
    """Read one frame; ``deadline`` is a ``time.monotonic()`` value."""
    prefix = _read_exact(fd, _PREFIX.size, deadline)
    header_len, payload_len = _PREFIX.unpack(prefix)
    if header_len > MAX_HEADER_BYTES:
        raise ChannelError(f"frame header of {header_len} bytes is over the limit")
    if max_payload is not None and payload_len > max_payload:
        raise ChannelError(
            f"reply of {payload_len / 2**20:.0f} MiB is over the {max_payload / 2**20:.0f} MiB limit"
        )
    header = bytes(_read_exact(fd, header_len, deadline))
    payload = _read_exact(fd, payload_len, deadline)
    return decode(header, payload)


def _is_tensor(item: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(item, torch.Tensor)


def _tensor_bytes(tensor: torch.Tensor) -> tuple[memoryview, str, list[int]]:
    import torch

    plain = tensor.detach()
    if type(plain) is not torch.Tensor:
        plain = plain.as_subclass(torch.Tensor)
    plain = plain.to("cpu").contiguous()
    dtype = str(plain.dtype).removeprefix("torch.")
    if dtype not in _DTYPES:
        raise TypeError(f"tensors of dtype {dtype} cannot cross the channel")
    shape = list(plain.shape)
    raw = (
        plain.reshape(-1).view(torch.uint8) if plain.numel() else torch.empty(0, dtype=torch.uint8)
    )
    return memoryview(raw.numpy()).cast("B"), dtype, shape  # type: ignore[arg-type]


def _build(node: Any, payload: bytearray, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ChannelError("value nested too deeply")
    if node is None or isinstance(node, (bool, int, str)):
        return node
    if isinstance(node, float):
        return node
    if isinstance(node, list):
        return [_build(x, payload, depth + 1) for x in node]
    if isinstance(node, dict) and len(node) == 1:
        if "d" in node and isinstance(node["d"], dict):
            return {str(k): _build(v, payload, depth + 1) for k, v in node["d"].items()}
        if "t" in node:
            return _build_tensor(node["t"], payload)
    raise ChannelError("malformed value in frame")


def _build_tensor(spec: Any, payload: bytearray) -> torch.Tensor:
    import torch

    try:
        start, nbytes, dtype_name, shape = spec
        start, nbytes = int(start), int(nbytes)
        shape = [int(s) for s in shape]
    except (TypeError, ValueError):
        raise ChannelError("malformed tensor in frame") from None
    if dtype_name not in _DTYPES or any(s < 0 for s in shape):
        raise ChannelError(f"bad tensor dtype or shape ({dtype_name}, {shape})")
    dtype = getattr(torch, dtype_name)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if nbytes != math.prod(shape) * itemsize or start < 0 or start + nbytes > len(payload):
        raise ChannelError("tensor bytes do not match its shape")
    if nbytes == 0:
        return torch.empty(shape, dtype=dtype)
    flat = torch.frombuffer(payload, dtype=torch.uint8, count=nbytes, offset=start)
    return flat.view(dtype).reshape(shape)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        try:
            written = os.write(fd, view)
        except BrokenPipeError:
            raise ChannelError("the other side closed the channel") from None
        view = view[written:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytearray:
    buffer = bytearray(n)
    view = memoryview(buffer)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ChannelTimeout("no reply in time")
        count = os.readv(fd, [view[got:]])
        if count == 0:
            raise ChannelError("the other side closed the channel")
        got += count
    return buffer
