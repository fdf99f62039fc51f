"""Hostile checkpoint files in torch's pickle-based zip (the format lander_exp wrote before
safetensors), crafted byte by byte so that the test process never holds what they expand to: a
deflate bomb (megabytes of zeros deflated to a few hundred KB, which torch.load inflates) and a
stride-0 tensor (one float seen 10**11 times, which becomes 745 GiB once anything copies it)."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zlib

import torch


class _StorageRef:
    def __init__(self, numel: int):
        self.numel = numel


class _Tensor:
    """Pickles as torch.save pickles a tensor: storage "0" viewed with `shape` and `stride`."""

    def __init__(self, numel: int, shape: tuple[int, ...], stride: tuple[int, ...]):
        self.args = (_StorageRef(numel), 0, shape, stride, False, collections.OrderedDict())

    def __reduce_ex__(self, protocol):
        return torch._utils._rebuild_tensor_v2, self.args


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ("storage", torch.FloatStorage, "0", "cpu", obj.numel) if isinstance(obj, _StorageRef) else None


def _zip(members: list[tuple[str, int, int, bytes, int]]) -> bytes:
    """A zip of (name, CRC-32 and size of the content, the bytes as stored, method: 0 stored, 8 deflated)."""
    out, central = io.BytesIO(), []
    for name, crc, size, data, method in members:
        offset, encoded = out.tell(), name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), size, len(encoded), 0))
        out.write(encoded + data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), size,
                                   len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    for entry in central:
        out.write(entry)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    return out.getvalue()


def _torch_file(state, crc: int, size: int, data: bytes, method: int) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(state)

    def plain(name: str, content: bytes):
        return name, zlib.crc32(content), len(content), content, 0

    return _zip([plain("archive/data.pkl", buf.getvalue()), plain("archive/byteorder", b"little"),
                 ("archive/data/0", crc, size, data, method), plain("archive/version", b"3\n")])


def deflate_bomb(megabytes: int) -> bytes:
    """A checkpoint whose one weight is `megabytes` MB of zeros, deflated (blocks of 1 MB each
    flushed, so the file is written without ever holding the zeros), plus a key no code reads."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(bytes(1 << 20), crc)
    numel = (megabytes << 20) // 4
    state = {"epoch": 1, "global_step": 1, "episodes": 1, "eval_history": [0.0], "config": {},
             "algo": {"model": {"actor.0.weight": _Tensor(numel, (numel,), (1,))}, "unknown": 1}}
    return _torch_file(state, crc, megabytes << 20, block * megabytes + c.flush(), 8)


def stride0(state: dict, length: int = 10**11) -> bytes:
    """`state` (a checkpoint's, plain data) with its episode log's returns one float repeated `length`
    times by a stride of 0, saved by torch.save: 4 bytes of data in the file."""
    state = dict(state, episode_log={"returns": torch.zeros(1).expand(length), "lengths": torch.zeros(1, dtype=torch.int64),
                                     "outcomes": torch.zeros(1, dtype=torch.int64)})
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()
