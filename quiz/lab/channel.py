"""The narrow channel between the referee and a contestant: length-prefixed frames over pipes.

A frame is ``[u32 header length][u64 payload length][JSON header][raw tensor bytes]``. Values are
plain data only: ``None``, ``bool``, ``int``, ``float``, ``str``, lists (tuples become lists),
dicts with ``str`` keys (sent as ``{"d": {...}}``) and tensors (sent as ``{"t": [offset, nbytes,
dtype, shape]}`` with their bytes in the payload). The decoder builds exact ``torch.Tensor``
objects from bytes it owns, so nothing the contestant sends can run code in the referee (no
pickle), and a reply that is not plain data is refused with the reason.

A contestant started with an ``Arena`` (a sealed shared-memory file of fixed size, for graders
whose timed calls move tens of megabytes) sends large tensors through it instead of the pipe
(``{"m": [offset, nbytes, dtype, shape]}``): requests in its first half, replies in its second.
The referee copies every reply tensor out of the arena before it uses it (the contestant can
write there at any time); a contestant gets views of its request's tensors, valid until the
next request.

A contestant the referee keeps stopped between calls (``referee.Contestant``, ``frozen``) replies
with the address of each tensor in its own memory instead (``{"a": [address, nbytes, dtype,
shape]}``, ``by_address``): the referee stops it on the reply, then reads those bytes itself
(``process_vm_readv``), so a large output costs no copy inside the timed call and cannot change
after the clock stopped.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import select
import struct
import time
from collections.abc import Callable
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


ARENA_MIN_TENSOR_BYTES = 1 << 20  # smaller tensors cost less through the pipe than a memcpy
_ALIGN = 64


class ChannelError(Exception):
    """The other side broke the protocol, closed the pipe, or took longer than allowed."""


class ChannelTimeout(ChannelError):
    pass


class Arena:
    """A shared-memory file both sides map: ``region`` 0 carries requests, 1 replies."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self._map = mmap.mmap(fd, size)

    @classmethod
    def create(cls, size: int) -> Arena:
        """A new arena of ``size`` bytes, sealed so that no side can shrink or grow it (a
        shrunk file would crash the other side's reads)."""
        import fcntl

        fd = os.memfd_create("latency-quiz-arena", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(fd, size)
        seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        return cls(fd, size)

    def bounds(self, region: int) -> tuple[int, int]:
        half = (self.size // 2) // _ALIGN * _ALIGN
        return (0, half) if region == 0 else (half, self.size)

    def tensor(self, offset: int, nbytes: int) -> torch.Tensor:
        import torch

        return torch.frombuffer(self._map, dtype=torch.uint8, count=nbytes, offset=offset)

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(BufferError, ValueError):
            self._map.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Encoded:
    """One value's frame, ready to write: its JSON header, its payload chunks, and the
    tensors sent by address (which must stay alive until the other side has read them)."""

    def __init__(self, header: bytes, chunks: list[memoryview], held: list[Any]) -> None:
        self.header = header
        self.chunks = chunks
        self.held = held


def encode(
    value: Any, arena: Arena | None = None, region: int = 0, *, by_address: bool = False
) -> Encoded:
    """``value``'s frame; TypeError for anything not plain. With an ``arena``, tensors of at
    least ``ARENA_MIN_TENSOR_BYTES`` that still fit in its ``region`` are written there instead
    of the payload; ``by_address`` sends every tensor as its address in this process."""
    encoder = _Encoder(arena, region, by_address)
    header = json.dumps(encoder.walk(value, 0), separators=(",", ":")).encode()
    return Encoded(header, encoder.chunks, encoder.held)


class _Encoder:
    """One value's encoding. A class, not a recursive closure: a closure that calls itself is a
    reference cycle, which kept every encoded tensor alive until the garbage collector ran
    (tens of MB of a rank's activations piled up between collections)."""

    def __init__(self, arena: Arena | None, region: int, by_address: bool) -> None:
        self.arena = arena
        self.by_address = by_address
        self.chunks: list[memoryview] = []
        self.held: list[Any] = []
        self.offset = 0
        self.shared, self.end = arena.bounds(region) if arena is not None else (0, 0)

    def walk(self, item: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise TypeError("value nested too deeply")
        if item is None or isinstance(item, (bool, str)):
            return item
        if isinstance(item, int):
            return int(item)
        if isinstance(item, float):
            return float(item)
        if isinstance(item, (list, tuple)):
            return [self.walk(x, depth + 1) for x in item]
        if isinstance(item, dict):
            out = {}
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"dict keys must be str, not {type(key).__name__}")
                out[key] = self.walk(sub, depth + 1)
            return {"d": out}
        if _is_tensor(item):
            return self.tensor(item)
        raise TypeError(f"{type(item).__name__} cannot cross the channel (plain data only)")

    def tensor(self, item: Any) -> dict[str, list[Any]]:
        if self.by_address:
            plain, dtype, shape = _plain_tensor(item)
            self.held.append(plain)
            size = plain.numel() * plain.element_size()
            return {"a": [plain.data_ptr() if size else 0, size, dtype, shape]}
        raw, dtype, shape = _tensor_bytes(item)
        size = raw.nbytes
        arena = self.arena
        if arena is not None and size >= ARENA_MIN_TENSOR_BYTES and self.shared + size <= self.end:
            import torch

            start = self.shared
            arena.tensor(start, size).copy_(torch.frombuffer(raw, dtype=torch.uint8))
            self.shared = -(-(start + size) // _ALIGN) * _ALIGN
            return {"m": [start, size, dtype, shape]}
        start = self.offset
        self.chunks.append(raw)
        self.offset += size
        return {"t": [start, size, dtype, shape]}


ReadMemory = Callable[[int, int], bytearray]


def decode(
    header: bytes,
    payload: bytearray,
    arena: Arena | None = None,
    *,
    region: int = 0,
    copy: bool = True,
    read_memory: ReadMemory | None = None,
    max_bytes: int | None = None,
) -> Any:
    """The value a frame carries; ChannelError when it is malformed. Tensors in the ``arena``
    must lie in ``region``; they are copied out unless ``copy`` is False (views). Tensors sent
    by address are read with ``read_memory(address, nbytes)`` (refused without it), at most
    ``max_bytes`` of them in all."""
    try:
        tree = json.loads(header)
    except ValueError as err:
        raise ChannelError(f"malformed frame header ({err})") from None
    except RecursionError:  # JSON nested deeper than the parser's own stack allows
        raise ChannelError("value nested too deeply") from None
    shared = (arena, region, copy) if arena is not None else None
    remote = _Remote(read_memory, max_bytes) if read_memory is not None else None
    return _build(tree, payload, 0, shared, remote)


def send(
    fd: int, value: Any, arena: Arena | None = None, region: int = 0, *, by_address: bool = False
) -> list[memoryview]:
    """Write ``value``'s frame; returns what was sent by address (keep it alive until read)."""
    encoded = encode(value, arena, region, by_address=by_address)
    write_frame(fd, encoded)
    return encoded.held


def write_frame(fd: int, encoded: Encoded) -> None:
    total = sum(c.nbytes for c in encoded.chunks)
    _write_all(fd, _PREFIX.pack(len(encoded.header), total) + encoded.header)
    for chunk in encoded.chunks:
        _write_all(fd, chunk)


def read_frame(
    fd: int, *, deadline: float | None = None, max_payload: int | None = None
) -> tuple[bytes, bytearray]:
    """One frame's (header, payload); ``deadline`` is a ``time.monotonic()`` value."""
    prefix = _read_exact(fd, _PREFIX.size, deadline)
    header_len, payload_len = _PREFIX.unpack(prefix)
    if header_len > MAX_HEADER_BYTES:
        raise ChannelError(f"frame header of {header_len} bytes is over the limit")
    if max_payload is not None and payload_len > max_payload:
        raise ChannelError(
            f"reply of {payload_len / 2**20:.0f} MiB is over the {max_payload / 2**20:.0f} MiB limit"
        )
    header = bytes(_read_exact(fd, header_len, deadline))
    return header, _read_exact(fd, payload_len, deadline)


def receive(
    fd: int,
    *,
    deadline: float | None = None,
    max_payload: int | None = None,
    arena: Arena | None = None,
    region: int = 0,
    copy: bool = True,
) -> Any:
    """Read and decode one frame (tensors sent by address are refused)."""
    header, payload = read_frame(fd, deadline=deadline, max_payload=max_payload)
    return decode(header, payload, arena, region=region, copy=copy)


def _is_tensor(item: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(item, torch.Tensor)


def _plain_tensor(tensor: torch.Tensor) -> tuple[torch.Tensor, str, list[int]]:
    """(an exact, contiguous CPU tensor with ``tensor``'s values, its dtype name, its shape);
    TypeError for a dtype the channel does not carry."""
    import torch

    plain = tensor.detach()
    if type(plain) is not torch.Tensor:
        plain = plain.as_subclass(torch.Tensor)
    plain = plain.to("cpu").contiguous()
    dtype = str(plain.dtype).removeprefix("torch.")
    if dtype not in _DTYPES:
        raise TypeError(f"tensors of dtype {dtype} cannot cross the channel")
    return plain, dtype, list(plain.shape)


def _tensor_bytes(tensor: torch.Tensor) -> tuple[memoryview, str, list[int]]:
    import torch

    plain, dtype, shape = _plain_tensor(tensor)
    raw = (
        plain.reshape(-1).view(torch.uint8) if plain.numel() else torch.empty(0, dtype=torch.uint8)
    )
    return memoryview(raw.numpy()).cast("B"), dtype, shape  # type: ignore[arg-type]


_Shared = tuple["Arena", int, bool] | None


class _Remote:
    """Reads the tensors of one reply sent by address, within a byte budget."""

    def __init__(self, read_memory: ReadMemory, max_bytes: int | None) -> None:
        self.read_memory = read_memory
        self.left = max_bytes

    def tensor(self, spec: Any) -> torch.Tensor:
        import torch

        address, nbytes, dtype, shape = _tensor_spec(spec, 0, 2**64)
        if self.left is not None:
            if nbytes > self.left:
                raise ChannelError("tensors sent by address are over the reply limit")
            self.left -= nbytes
        if nbytes == 0:
            return torch.empty(shape, dtype=dtype)
        flat = torch.frombuffer(self.read_memory(address, nbytes), dtype=torch.uint8)
        return flat.view(dtype).reshape(shape)


def _build(
    node: Any, payload: bytearray, depth: int, shared: _Shared = None, remote: _Remote | None = None
) -> Any:
    if depth > MAX_DEPTH:
        raise ChannelError("value nested too deeply")
    if node is None or isinstance(node, (bool, int, str)):
        return node
    if isinstance(node, float):
        return node
    if isinstance(node, list):
        return [_build(x, payload, depth + 1, shared, remote) for x in node]
    if isinstance(node, dict) and len(node) == 1:
        if "d" in node and isinstance(node["d"], dict):
            items = node["d"].items()
            return {str(k): _build(v, payload, depth + 1, shared, remote) for k, v in items}
        if "t" in node:
            return _build_tensor(node["t"], payload)
        if "m" in node and shared is not None:
            return _build_shared_tensor(node["m"], *shared)
        if "a" in node and remote is not None:
            return remote.tensor(node["a"])
    raise ChannelError("malformed value in frame")


def _tensor_spec(spec: Any, low: int, high: int) -> tuple[int, int, torch.dtype, list[int]]:
    """(start, nbytes, dtype, shape) of a tensor whose bytes must lie in [low, high)."""
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
    if nbytes != math.prod(shape) * itemsize or start < low or start + nbytes > high:
        raise ChannelError("tensor bytes do not match its shape")
    return start, nbytes, dtype, shape


def _build_tensor(spec: Any, payload: bytearray) -> torch.Tensor:
    import torch

    start, nbytes, dtype, shape = _tensor_spec(spec, 0, len(payload))
    if nbytes == 0:
        return torch.empty(shape, dtype=dtype)
    flat = torch.frombuffer(payload, dtype=torch.uint8, count=nbytes, offset=start)
    return flat.view(dtype).reshape(shape)


def _build_shared_tensor(spec: Any, arena: Arena, region: int, copy: bool) -> torch.Tensor:
    import torch

    start, nbytes, dtype, shape = _tensor_spec(spec, *arena.bounds(region))
    if nbytes == 0:
        return torch.empty(shape, dtype=dtype)
    flat = arena.tensor(start, nbytes)
    if copy:
        flat = flat.clone()
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
