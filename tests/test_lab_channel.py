"""The referee/contestant channel carries plain data only, and refuses malformed frames."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import struct

import pytest
import torch

from quiz.lab import channel


def payload_of(chunks: list[memoryview]) -> bytearray:
    return bytearray(b"".join(bytes(c) for c in chunks))


def roundtrip(value: object) -> object:
    encoded = channel.encode(value)
    return channel.decode(encoded.header, payload_of(encoded.chunks))


def test_plain_values_and_every_dtype_cross_exactly() -> None:
    tensors = {
        str(dtype): torch.arange(12).reshape(3, 4).to(dtype)
        for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8,
                      torch.uint8, torch.int16, torch.int32, torch.int64, torch.bool)
    }  # fmt: skip
    value = {"n": 3, "x": 1.5, "s": "é", "none": None, "flag": True, "list": [1, (2, 3)]}
    value["tensors"] = tensors
    value["empty"] = torch.empty(0, 5)
    value["scalar"] = torch.tensor(2.5)
    out = roundtrip(value)
    assert isinstance(out, dict)
    assert out["list"] == [1, [2, 3]] and out["s"] == "é" and out["flag"] is True
    for name, tensor in tensors.items():
        got = out["tensors"][name]
        assert type(got) is torch.Tensor and got.dtype == tensor.dtype
        assert torch.equal(got, tensor)
    assert out["empty"].shape == (0, 5) and out["scalar"].item() == 2.5


def test_a_non_contiguous_tensor_or_subclass_arrives_as_a_plain_contiguous_tensor() -> None:
    class Lazy(torch.Tensor):
        pass

    base = torch.randn(4, 6)
    out = roundtrip([base.t(), base.as_subclass(Lazy)])
    assert isinstance(out, list)
    assert type(out[1]) is torch.Tensor and torch.equal(out[1], base)
    assert out[0].is_contiguous() and torch.equal(out[0], base.t())


@pytest.mark.parametrize(
    "value",
    [object(), {1: 2}, {"f": lambda: 0}, torch.zeros(2, dtype=torch.complex64), b"bytes"],
    ids=["object", "int-key", "function", "complex", "bytes"],
)
def test_anything_else_is_refused_by_name(value: object) -> None:
    with pytest.raises(TypeError, match="channel|keys"):
        channel.encode(value)


def frame(header: object, payload: bytes = b"") -> tuple[bytes, bytearray]:
    return json.dumps(header).encode(), bytearray(payload)


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        ({"t": [0, 8, "float32", [4]]}, b"\0" * 8),  # 4 floats need 16 bytes
        ({"t": [0, 16, "float32", [4]]}, b"\0" * 8),  # past the payload
        ({"t": [0, 4, "object", [1]]}, b"\0" * 4),  # not a dtype the channel knows
        ({"t": [0, 0, "float32", [-1]]}, b""),
        ({"x": 1}, b""),
        ({"d": [1, 2]}, b""),
    ],
)
def test_malformed_frames_are_refused(header: object, payload: bytes) -> None:
    with pytest.raises(channel.ChannelError):
        channel.decode(*frame(header, payload))


def test_frames_cross_a_pipe_and_a_closed_pipe_or_timeout_is_an_error() -> None:
    import time

    read, write = os.pipe()
    try:
        channel.send(write, {"call": "f", "args": [torch.ones(3)]})
        got = channel.receive(read, deadline=time.monotonic() + 5)
        assert got["call"] == "f" and torch.equal(got["args"][0], torch.ones(3))
        with pytest.raises(channel.ChannelTimeout):
            channel.receive(read, deadline=time.monotonic() + 0.05)
        os.write(write, struct.pack("<IQ", 2, 10**12))
        with pytest.raises(channel.ChannelError, match="over the"):
            channel.receive(read, max_payload=2**20)
    finally:
        os.close(read)
        os.close(write)
    read, write = os.pipe()
    os.close(write)
    with pytest.raises(channel.ChannelError, match="closed"):
        channel.receive(read)
    os.close(read)


def test_large_tensors_cross_in_the_arena_and_the_referee_gets_its_own_copy() -> None:
    arena = channel.Arena.create(8 << 20)
    try:
        big = torch.randn(1 << 19)  # 2 MiB: through the arena
        small = torch.randn(16)  # through the pipe's payload
        encoded = channel.encode({"big": big, "small": small}, arena, region=1)
        header, chunks = encoded.header, encoded.chunks
        assert b'"m"' in header and sum(c.nbytes for c in chunks) == small.nbytes
        out = channel.decode(header, payload_of(chunks), arena, region=1)
        assert isinstance(out, dict)
        torch.testing.assert_close(out["big"], big)
        torch.testing.assert_close(out["small"], small)
        arena.tensor(*arena.bounds(1)[:1], 8).zero_()  # the contestant writes there later
        torch.testing.assert_close(out["big"], big)
        view = channel.decode(header, payload_of(chunks), arena, region=1, copy=False)
        assert not torch.equal(view["big"], big)  # a view (what a contestant gets) sees it
    finally:
        arena.close()


def test_a_reply_pointing_outside_the_reply_half_or_a_tensor_too_big_for_it_is_handled() -> None:
    arena = channel.Arena.create(8 << 20)
    try:
        into_requests = json.dumps({"m": [0, 4096, "float32", [1024]]}).encode()
        with pytest.raises(channel.ChannelError):
            channel.decode(into_requests, bytearray(), arena, region=1)
        past_the_end = json.dumps({"m": [8 << 20, 4, "float32", [1]]}).encode()
        with pytest.raises(channel.ChannelError):
            channel.decode(past_the_end, bytearray(), arena, region=1)
        without_arena = json.dumps({"m": [0, 4, "float32", [1]]}).encode()
        with pytest.raises(channel.ChannelError):
            channel.decode(without_arena, bytearray())
        too_big = torch.randn(2 << 20)  # 8 MiB: not in a 4 MiB half, so through the pipe
        encoded = channel.encode(too_big, arena, region=0)
        assert b'"t"' in encoded.header
        decoded = channel.decode(encoded.header, payload_of(encoded.chunks))
        torch.testing.assert_close(decoded, too_big)
    finally:
        arena.close()


def test_the_arena_cannot_be_shrunk_or_grown() -> None:
    arena = channel.Arena.create(1 << 20)
    try:
        for size in (0, 2 << 20):
            with pytest.raises(PermissionError):
                os.ftruncate(arena.fd, size)
    finally:
        arena.close()


def test_encoding_leaves_no_garbage_cycle_holding_the_tensors() -> None:
    """An encoded tensor is freed as soon as its frame is: a reference cycle would keep it until
    the garbage collector ran (a rank's activations piled up by tens of MB between runs)."""
    gc.collect()
    gc.disable()
    try:
        encoded = channel.encode({"x": [torch.ones(1000), torch.zeros(3, 4)]})
        del encoded
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_tensors_sent_by_address_are_read_through_the_given_reader_within_a_budget() -> None:
    """What a contestant stopped on its reply sends: addresses, read by the referee."""
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    strided = torch.arange(20, dtype=torch.int64)[::2]
    encoded = channel.encode({"x": x, "s": strided, "e": torch.empty(0, 3)}, by_address=True)
    assert b'"a"' in encoded.header and not encoded.chunks and len(encoded.held) == 3
    reads: list[tuple[int, int]] = []

    def read_memory(address: int, nbytes: int) -> bytearray:
        reads.append((address, nbytes))
        return bytearray(ctypes.string_at(address, nbytes))

    out = channel.decode(encoded.header, bytearray(), read_memory=read_memory, max_bytes=1 << 20)
    assert torch.equal(out["x"], x) and torch.equal(out["s"], strided)
    assert out["e"].shape == (0, 3) and reads[0] == (x.data_ptr(), x.nbytes)
    with pytest.raises(channel.ChannelError, match="malformed"):  # never without a reader
        channel.decode(encoded.header, bytearray())
    with pytest.raises(channel.ChannelError, match="over the reply limit"):
        channel.decode(encoded.header, bytearray(), read_memory=read_memory, max_bytes=64)
