"""The anonymous memory files that large buffers travel in, and a stock of spare ones for reuse.

The first write into a fresh memory file costs the kernel a new page for
every 4 KiB written, more than the copy itself costs (docs/benchmarks.md);
a write into pages the file already has costs only the copy.  So the parent, which sends
the same big arguments call after call, keeps the files its workers have
finished reading (`SpareMemoryFiles`) and writes its next large arguments
into one of them.

A spare file holds memory while nobody uses it, so the stock is small: at
most `SPARE_BYTES` in all, files unused for `SPARE_SECONDS` are let go at
the next use of the stock, and the owner empties it when its loop stops.
"""

from __future__ import annotations

import os
import threading
import time

# What the spare files may hold in all; a file larger than this is never kept.
SPARE_BYTES = 512 * 2**20
# A spare file unused for longer is let go, at the stock's next use.
SPARE_SECONDS = 10.0


class MemoryFile:
    """An anonymous memory file (``os.memfd_create``) of `size` bytes, and its descriptor."""

    __slots__ = ("fd", "idle_since", "size")

    def __init__(self, size: int) -> None:
        self.fd = os.memfd_create("unsync", os.MFD_CLOEXEC)
        self.size = 0
        self.idle_since = 0.0
        try:
            self.resize(size)
        except BaseException:
            os.close(self.fd)
            raise

    def resize(self, size: int) -> None:
        os.ftruncate(self.fd, size)  # OSError past a file size limit (ulimit -f)
        self.size = size

    def write_at(self, view: memoryview, offset: int) -> None:
        # os.pwrite releases the GIL, and a file that is written rather than
        # mapped adds nothing to the writer's resident memory.
        while view:
            written = os.pwrite(self.fd, view, offset)
            view, offset = view[written:], offset + written

    def close(self) -> None:
        os.close(self.fd)


class SpareMemoryFiles:
    """Memory files whose receivers are done with them, kept for the next large messages; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: list[MemoryFile] = []  # the most recently put back last

    def take(self, size: int) -> MemoryFile:
        """A file of at least ``size`` bytes: the smallest spare one that is large enough if any.

        Otherwise the largest spare one, grown (its pages are reused as far
        as they go), or a new file.
        """
        with self._lock:
            stale = self._take_stale()
            fitting = [file for file in self._files if file.size >= size]
            chosen = min(fitting, key=_size) if fitting else max(self._files, key=_size, default=None)
            if chosen is not None:
                self._files.remove(chosen)
        _close_all(stale)
        if chosen is None:
            return MemoryFile(size)
        if chosen.size < size:
            try:
                chosen.resize(size)
            except BaseException:
                chosen.close()
                raise
        return chosen

    def put_back(self, file: MemoryFile) -> None:
        """Keep ``file``, which its receiver has finished reading, for a later message."""
        file.idle_since = time.monotonic()
        with self._lock:
            let_go = self._take_stale()
            if file.size > SPARE_BYTES:
                let_go.append(file)
            else:
                self._files.append(file)
            while self._files and sum(map(_size, self._files)) > SPARE_BYTES:
                let_go.append(self._files.pop(0))  # the longest unused first
        _close_all(let_go)

    def clear(self) -> None:
        """Let go of every spare file."""
        with self._lock:
            files, self._files = self._files, []
        _close_all(files)

    def forget_after_fork(self) -> None:
        """In a forked child: let go of the files, which the parent still writes into, and the lock."""
        self._lock = threading.Lock()
        self.clear()

    def _take_stale(self) -> list[MemoryFile]:
        """Remove and return the files unused for `SPARE_SECONDS`; with the lock held."""
        oldest = time.monotonic() - SPARE_SECONDS
        stale = [file for file in self._files if file.idle_since < oldest]
        self._files = [file for file in self._files if file.idle_since >= oldest]
        return stale


def _size(file: MemoryFile) -> int:
    return file.size


def _close_all(files: list[MemoryFile]) -> None:
    for file in files:
        file.close()
