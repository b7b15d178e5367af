"""How calls and their outcomes travel between the parent and a worker process.

A message is a pickle (protocol 5) sent through a pipe, with a header that
gives its length and its large buffers.  Buffers that pickle can hand out of
band (`pickle.PickleBuffer`: bytearray, NumPy arrays and others whose
``__reduce_ex__(5)`` offers one) of at least `LARGE_BUFFER` bytes do not go
through the pipe.  They are written into one anonymous memory file
(`_memory_files`) whose descriptor is passed over a Unix socket beside the
pipe (``SCM_RIGHTS``).  ``bytes``, ``bytearray`` and ``memoryview`` always
pickle in band, so a call's large arguments and its result of those types
are wrapped in an object that pickles out of band.

The receiver reads a read-only buffer (``bytes``) straight into a new
``bytes`` object, and maps the file for a writable one, which then unpickles
without a copy (a NumPy array over the mapping).  A message whose file is
*lent* comes back to its sender, which writes its next message into the same
pages: its receiver copies every buffer out (into ``bytes`` or a
``bytearray``) and lets go of the file before it answers.  The parent lends
the files of its calls; a worker's answers bring fresh files.

A memory file has no name: nothing can be left behind in ``/dev/shm``
whoever dies when, because the kernel frees the file once its last
descriptor and mapping are gone.

Where there are no memory files or descriptor passing (other systems than
Linux), every message travels whole through the pipe.
"""

from __future__ import annotations

import errno
import mmap
import os
import pickle
import socket
import struct
import sys
import weakref
from typing import IO, Any

from ._memory_files import MemoryFile, SpareMemoryFiles

# Below this, a buffer is cheaper to copy through the pipe than to map.
LARGE_BUFFER = 256 * 1024
# Buffers start at multiples of this in the memory file, as NumPy likes them.
_ALIGNMENT = 64
# Linux moves at most this much in one read (MAX_RW_COUNT); a larger buffer is copied out of a mapping.
_LARGEST_READ = 0x7FFFF000
# Per message: the pickle's length, how many large buffers follow it, and its flags.
HEADER = struct.Struct(">QIB")
_LENT = 1
# Per large buffer: its size and whether it is read-only.
_BUFFER = struct.Struct(">Q?")

SHARES_MEMORY = sys.platform == "linux" and hasattr(os, "memfd_create") and hasattr(socket, "send_fds")


class OutOfBandBytes:
    """A large ``bytes``, ``bytearray`` or ``memoryview`` that pickles its data out of band.

    It unpickles as the type it wraps, without a copy beyond the receiver's:
    ``bytes`` read from the memory file, a ``bytearray`` copied out of it, a
    ``memoryview`` of whichever of those the receiver made, or of the mapping.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        rebuild = bytearray_of if type(self.data) is bytearray else type(self.data)
        return (rebuild, (pickle.PickleBuffer(self.data),))


def bytearray_of(buffer: Any) -> bytearray:
    """``bytearray(buffer)``, but a ``bytearray`` the receiver made for this buffer is taken as it is."""
    return buffer if type(buffer) is bytearray else bytearray(buffer)


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


class Buffer:
    """What a message's header says of one of its large buffers."""

    __slots__ = ("readonly", "size")

    def __init__(self, size: int, readonly: bool) -> None:
        self.size = size
        self.readonly = readonly


class Message:
    """One pickled message: the pickle itself, and its large buffers in a memory file (if any)."""

    __slots__ = ("__weakref__", "_close_file", "_lent_from", "_memory_file", "buffers", "file", "lent", "payload")

    def __init__(
        self,
        payload: bytes,
        buffers: tuple[Buffer, ...] = (),
        file: int | MemoryFile | None = None,
        *,
        lent: bool = False,
        lent_from: SpareMemoryFiles | None = None,
    ) -> None:
        self.payload = payload
        self.buffers = buffers
        self.lent = lent  # the sender reuses the file once this message is answered
        # The sender's file (lent from the stock that `give_back` returns it to), or None.
        self._memory_file = file if isinstance(file, MemoryFile) else None
        self._lent_from = lent_from
        # The descriptor: the sender's, or the receiver's, ours until read.
        self.file = file.fd if isinstance(file, MemoryFile) else file
        self._close_file: weakref.finalize[Any, Any] | None = None
        if self.file is not None:
            # However the message ends (sent, cancelled, dropped), its descriptor is closed.
            self._close_file = weakref.finalize(self, os.close, self.file)

    @classmethod
    def pack(cls, value: Any, lend_from: SpareMemoryFiles | None = None) -> Message:
        """Pickle ``value``, putting its large buffers into a memory file.

        With ``lend_from``, the file is taken from that stock and lent: the
        receiver answers only once it has read it, and `give_back` returns it.
        """
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
        views = [buffer.raw() for buffer in large]
        buffers = tuple(Buffer(view.nbytes, view.readonly) for view in views)
        *offsets, end = _layout(buffers)
        file = MemoryFile(end) if lend_from is None else lend_from.take(end)
        try:
            for view, offset in zip(views, offsets, strict=True):
                file.write_at(view, offset)
        except BaseException:
            file.close()
            raise
        return cls(payload, buffers, file, lent=lend_from is not None, lent_from=lend_from)

    @property
    def is_large(self) -> bool:
        """Whether unpickling it may take long enough to stall an event loop."""
        return self.file is not None or len(self.payload) >= LARGE_BUFFER

    def unpack(self) -> Any:
        """The value, unpickled with its buffers read from the memory file (closed here)."""
        if self.file is None:
            return pickle.loads(self.payload)
        try:
            buffers = self._read_buffers(self.file)
        finally:
            self.close()
        # A mapping lives as long as whatever unpickled into it (a NumPy array) does.
        return pickle.loads(self.payload, buffers=buffers)

    def _read_buffers(self, file: int) -> list[Any]:
        *offsets, end = _layout(self.buffers)
        mapping: memoryview | None = None
        buffers: list[Any] = []
        for buffer, offset in zip(self.buffers, offsets, strict=True):
            if buffer.readonly and buffer.size <= _LARGEST_READ:
                buffers.append(_read_bytes(file, buffer.size, offset))
            elif not buffer.readonly and self.lent:
                buffers.append(_read_bytearray(file, buffer.size, offset))
            else:
                if mapping is None:
                    # A private mapping: the receiver may write to what it was given,
                    # as to its own copy, without touching the sender's.
                    mapping = memoryview(mmap.mmap(file, end, access=mmap.ACCESS_COPY))
                view = mapping[offset : offset + buffer.size]
                # A lent file is written again once answered: only a copy may outlive this message.
                buffers.append((bytes(view) if buffer.readonly else bytearray(view)) if self.lent else view)
        return buffers

    def give_back(self) -> None:
        """The receiver has answered: return a lent file to the stock it came from."""
        if self._lent_from is None or self._memory_file is None:
            return
        finalizer, self._close_file, self.file = self._close_file, None, None
        if finalizer is None:
            return
        if finalizer.detach() is not None:  # None: closed meanwhile, by a close() in another thread
            self._lent_from.put_back(self._memory_file)

    def close(self) -> None:
        """Let go of the memory file, if the message has one; idempotent."""
        if self._close_file is not None:
            self._close_file()
            self._close_file = None
            self.file = None

    def header(self) -> bytes:
        flags = _LENT if self.lent else 0
        return HEADER.pack(len(self.payload), len(self.buffers), flags) + b"".join(
            _BUFFER.pack(buffer.size, buffer.readonly) for buffer in self.buffers
        )

    def pass_file(self, descriptors: socket.socket | None) -> None:
        """Pass the memory file (if any) over ``descriptors``; keep it only if it is lent."""
        if self.file is None:
            return
        assert descriptors is not None
        try:
            # One small datagram, before its message: it never blocks.
            socket.send_fds(descriptors, [b"F"], [self.file])
        finally:
            if not self.lent:
                self.close()

    # -- the worker's side: plain blocking files -----------------------------

    def write_to(self, pipe: IO[bytes], descriptors: socket.socket | None) -> None:
        """Send the memory file (if any), then the message."""
        self.pass_file(descriptors)
        pipe.write(self.header())
        pipe.write(self.payload)
        pipe.flush()

    @classmethod
    def read_from(cls, pipe: IO[bytes], descriptors: socket.socket | None) -> Message | None:
        """The next message, or None at the end of the pipe."""
        header = pipe.read(HEADER.size)
        if len(header) < HEADER.size:
            return None
        length, count, lent = parse_header(header)
        buffers = buffers_from(pipe.read(buffer_table_length(count)))
        payload = pipe.read(length)
        if len(payload) < length:
            return None
        return cls(payload, buffers, receive_file(descriptors) if count else None, lent=lent)


def parse_header(raw: bytes) -> tuple[int, int, bool]:
    """A message's header: the pickle's length, how many large buffers it has, and whether its file is lent."""
    length, count, flags = HEADER.unpack(raw)
    return length, count, bool(flags & _LENT)


def buffers_from(raw: bytes) -> tuple[Buffer, ...]:
    return tuple(Buffer(size, readonly) for size, readonly in _BUFFER.iter_unpack(raw))


def buffer_table_length(count: int) -> int:
    return _BUFFER.size * count


def receive_file(descriptors: socket.socket | None) -> int:
    """The memory file's descriptor, passed just before its message; `ConnectionError` if it is not there."""
    # Both ends have the socket where memory files are made (SHARES_MEMORY: the same interpreter), neither otherwise.
    assert descriptors is not None
    # Room for one descriptor: the kernel closes any more that were sent.
    _, files, flags, _ = socket.recv_fds(descriptors, 1, 1)
    if not files:
        if flags & socket.MSG_CTRUNC:  # it came, but the kernel had no descriptor to give us
            raise FileNotReceived(errno.EMFILE, os.strerror(errno.EMFILE))
        raise ConnectionError("the memory file of a message did not arrive")
    return files[0]


class FileNotReceived(OSError):
    """A message's memory file arrived, but this process could open no descriptor for it."""


def _layout(buffers: tuple[Buffer, ...]) -> list[int]:
    """Where each buffer starts in the memory file, and (last) the file's size."""
    offsets, end = [], 0
    for buffer in buffers:
        offsets.append(end)
        end += -(-buffer.size // _ALIGNMENT) * _ALIGNMENT
    return [*offsets, max(end, 1)]


def _read_bytes(file: int, size: int, offset: int) -> bytes:
    data = os.pread(file, size, offset)  # releases the GIL while it copies
    if len(data) < size:
        raise ConnectionError("a memory file is shorter than its message says")
    return data


def _read_bytearray(file: int, size: int, offset: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    while view:
        read = os.preadv(file, [view[:_LARGEST_READ]], offset)  # releases the GIL while it copies
        if not read:
            raise ConnectionError("a memory file is shorter than its message says")
        view, offset = view[read:], offset + read
    return data
