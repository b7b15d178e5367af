"""How calls and their outcomes travel between the parent and a worker process.

A message is a pickle (protocol 5) sent through a pipe, with a header that
gives its length and the sizes of its large buffers.  Buffers that pickle can
hand out of band (`pickle.PickleBuffer`: bytearray, NumPy arrays and others
whose ``__reduce_ex__(5)`` offers one) of at least `LARGE_BUFFER` bytes do not
go through the pipe.  They are written into one anonymous memory file
(``os.memfd_create``) whose descriptor is passed over a Unix socket beside
the pipe (``SCM_RIGHTS``); the receiver maps the file and unpickles straight
from the mapping.  ``bytes``, ``bytearray`` and ``memoryview`` always pickle
in band, so a call's large arguments and its result of those types are
wrapped in an object that pickles out of band.

The memory file has no name: nothing can be left behind in ``/dev/shm``
whoever dies when, because the kernel frees the file once its last
descriptor and mapping are gone.  A sender closes its descriptor as soon as
it has been passed on, or when the message is dropped unsent.

Where there are no memory files or descriptor passing (other systems than
Linux), every message travels whole through the pipe.
"""

from __future__ import annotations

import mmap
import os
import pickle
import socket
import struct
import sys
import weakref
from collections.abc import Callable
from typing import IO, Any

# Below this, a buffer is cheaper to copy through the pipe than to map.
LARGE_BUFFER = 256 * 1024
# Buffers start at multiples of this in the memory file, as NumPy likes them.
_ALIGNMENT = 64
# Per message: the pickle's length and how many large buffers follow it.
HEADER = struct.Struct(">QI")
_SIZE = struct.Struct(">Q")

SHARES_MEMORY = sys.platform == "linux" and hasattr(os, "memfd_create") and hasattr(socket, "send_fds")


class OutOfBandBytes:
    """A large ``bytes``, ``bytearray`` or ``memoryview`` that pickles its data out of band.

    It unpickles as the type it wraps: ``bytes`` or ``bytearray`` copied once
    out of the mapping, a ``memoryview`` of the mapping itself.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        return (type(self.data), (pickle.PickleBuffer(self.data),))


def out_of_band(value: Any) -> Any:
    """``value``, wrapped if it is a large ``bytes`` or ``bytearray``, or any contiguous ``memoryview``.

    A memoryview is wrapped whatever its size, for it cannot pickle at all.
    """
    kind = type(value)
    if kind is memoryview:
        return OutOfBandBytes(value) if value.contiguous else value
    if (kind is bytes or kind is bytearray) and SHARES_MEMORY and len(value) >= LARGE_BUFFER:
        return OutOfBandBytes(value)
    return value


class Message:
    """One pickled message: the pickle itself, and its large buffers in a memory file (if any)."""

    __slots__ = ("__weakref__", "_close_file", "file", "payload", "sizes")

    def __init__(self, payload: bytes, sizes: tuple[int, ...] = (), file: int | None = None) -> None:
        self.payload = payload
        self.sizes = sizes
        self.file = file  # the memory file's descriptor, ours until sent
        self._close_file: Callable[[], Any] | None = None
        if file is not None:
            # However the message ends (sent, cancelled, dropped), its descriptor is closed.
            self._close_file = weakref.finalize(self, os.close, file)

    @classmethod
    def pack(cls, value: Any) -> Message:
        """Pickle ``value``, putting its large buffers into a memory file."""
        if not SHARES_MEMORY:
            return cls(pickle.dumps(value, protocol=5))
        large: list[pickle.PickleBuffer] = []

        def in_band(buffer: pickle.PickleBuffer) -> bool:
            # Contiguous: pickle refuses any other PickleBuffer before it asks.
            size = buffer.raw().nbytes
            if size < LARGE_BUFFER:
                return True
            large.append(buffer)
            return False

        payload = pickle.dumps(value, protocol=5, buffer_callback=in_band)
        if not large:
            return cls(payload)
        sizes = tuple(buffer.raw().nbytes for buffer in large)
        *offsets, end = _layout(sizes)
        file = os.memfd_create("unsync", os.MFD_CLOEXEC)
        try:
            os.ftruncate(file, end)
            for buffer, offset in zip(large, offsets, strict=True):
                _write_at(file, buffer.raw(), offset)
        except BaseException:
            os.close(file)
            raise
        return cls(payload, sizes, file)

    @property
    def is_large(self) -> bool:
        """Whether unpickling it may take long enough to stall an event loop."""
        return self.file is not None or len(self.payload) >= LARGE_BUFFER

    def unpack(self) -> Any:
        """The value, unpickled from the mapped memory file (closed here)."""
        if self.file is None:
            return pickle.loads(self.payload)
        *offsets, end = _layout(self.sizes)
        try:
            # A private mapping: the receiver may write to what it was given,
            # as to its own copy, without touching the sender's.
            mapping = mmap.mmap(self.file, end, access=mmap.ACCESS_COPY)
        finally:
            self.close()
        whole = memoryview(mapping)
        buffers = [whole[offset : offset + size] for offset, size in zip(offsets, self.sizes, strict=True)]
        # The mapping lives as long as whatever unpickled into it (a NumPy array) does.
        return pickle.loads(self.payload, buffers=buffers)

    def close(self) -> None:
        """Close the memory file's descriptor, if it has one; idempotent."""
        if self._close_file is not None:
            self._close_file()
            self._close_file = None
            self.file = None

    def header(self) -> bytes:
        return HEADER.pack(len(self.payload), len(self.sizes)) + b"".join(_SIZE.pack(size) for size in self.sizes)

    # -- the worker's side: plain blocking files -----------------------------

    def write_to(self, pipe: IO[bytes], descriptors: socket.socket | None) -> None:
        """Send the memory file (if any), then the message; the descriptor is closed either way."""
        try:
            if self.file is not None:
                assert descriptors is not None
                socket.send_fds(descriptors, [b"F"], [self.file])
        finally:
            self.close()
        pipe.write(self.header())
        pipe.write(self.payload)
        pipe.flush()

    @classmethod
    def read_from(cls, pipe: IO[bytes], descriptors: socket.socket | None) -> Message | None:
        """The next message, or None at the end of the pipe."""
        header = pipe.read(HEADER.size)
        if len(header) < HEADER.size:
            return None
        length, count = HEADER.unpack(header)
        sizes = sizes_from(pipe.read(_SIZE.size * count))
        payload = pipe.read(length)
        if len(payload) < length:
            return None
        return cls(payload, sizes, receive_file(descriptors) if count else None)


def sizes_from(raw: bytes) -> tuple[int, ...]:
    return tuple(size for (size,) in _SIZE.iter_unpack(raw))


def size_table_length(count: int) -> int:
    return _SIZE.size * count


def receive_file(descriptors: socket.socket | None) -> int:
    """The memory file's descriptor, passed just before its message; `ConnectionError` if it is not there."""
    # Both ends have the socket where memory files are made (SHARES_MEMORY: the same interpreter), neither otherwise.
    assert descriptors is not None
    # Room for one descriptor: the kernel closes any more that were sent.
    _, files, _, _ = socket.recv_fds(descriptors, 1, 1)
    if not files:
        raise ConnectionError("the memory file of a message did not arrive")
    return files[0]


def _layout(sizes: tuple[int, ...]) -> list[int]:
    """Where each buffer starts in the memory file, and (last) the file's size."""
    offsets, end = [], 0
    for size in sizes:
        offsets.append(end)
        end += -(-size // _ALIGNMENT) * _ALIGNMENT
    return [*offsets, max(end, 1)]


def _write_at(file: int, view: memoryview, offset: int) -> None:
    # os.pwrite releases the GIL, and a file that is written rather than
    # mapped adds nothing to the writer's resident memory.
    while view:
        written = os.pwrite(file, view, offset)
        view, offset = view[written:], offset + written
