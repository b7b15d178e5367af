"""The stock of spare memory files that large cpu_bound arguments are written into, call after call."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator

import pytest

from conftest import RunPython

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="memory files are Linux's")

from scenarios.cpu_work import memory_file_inodes  # noqa: E402
from unsync import _memory_files  # noqa: E402
from unsync._memory_files import MemoryFile, SpareMemoryFiles  # noqa: E402

MiB = 2**20


class Stock(SpareMemoryFiles):
    """A stock that remembers the inode of every file it made, to tell whether one is still open."""

    def __init__(self) -> None:
        super().__init__()
        self.inodes: dict[MemoryFile, int] = {}

    def take(self, size: int) -> MemoryFile:
        file = super().take(size)
        self.inodes.setdefault(file, os.fstat(file.fd).st_ino)
        return file

    def is_open(self, file: MemoryFile) -> bool:
        # By inode: a closed file's descriptor number may be reused by a new one.
        try:
            return os.fstat(file.fd).st_ino == self.inodes[file]
        except OSError:
            return False


@pytest.fixture
def spare() -> Iterator[Stock]:
    """A stock of spare files; afterwards, the test's files are closed and no other memory file is left."""
    before = memory_file_inodes()
    stock = Stock()
    yield stock
    stock.clear()
    for file in stock.inodes:
        if stock.is_open(file):  # taken by the test and kept
            file.close()
    assert memory_file_inodes() == before


def inode(file: MemoryFile) -> int:
    return os.fstat(file.fd).st_ino


def test_a_file_put_back_is_taken_again_with_its_pages(spare: Stock) -> None:
    file = spare.take(4 * MiB)
    assert file.size == 4 * MiB == os.fstat(file.fd).st_size
    file.write_at(memoryview(b"kept"), 0)
    spare.put_back(file)
    again = spare.take(3 * MiB)
    assert again is file and os.pread(again.fd, 4, 0) == b"kept"
    assert inode(spare.take(3 * MiB)) != inode(file)  # it is lent out: the next one is new


def test_the_smallest_file_that_fits_is_taken_else_the_largest_is_grown(spare: Stock) -> None:
    small, middle, large = (spare.take(size) for size in (1 * MiB, 8 * MiB, 64 * MiB))
    for file in (large, small, middle):
        spare.put_back(file)
    assert spare.take(2 * MiB) is middle
    grown = spare.take(100 * MiB)
    assert grown is large and grown.size == 100 * MiB == os.fstat(grown.fd).st_size
    assert spare.take(1 * MiB) is small


def test_the_stock_holds_no_more_than_its_limit_and_lets_the_longest_unused_go_first(spare: Stock) -> None:
    # Files are sparse until written: these sizes cost nothing.
    half = _memory_files.SPARE_BYTES // 2
    first, second, third = (spare.take(half) for _ in range(3))
    for file in (first, second):
        spare.put_back(file)
    assert spare.is_open(first) and spare.is_open(second)
    spare.put_back(third)
    assert not spare.is_open(first) and spare.is_open(second) and spare.is_open(third)
    too_large = spare.take(_memory_files.SPARE_BYTES + 1)  # one of the two, grown
    assert too_large in (second, third)
    kept = third if too_large is second else second
    spare.put_back(too_large)
    assert not spare.is_open(too_large) and spare.is_open(kept)
    spare.clear()
    assert not spare.is_open(kept)


def test_files_unused_for_a_while_are_let_go_at_the_next_use(spare: Stock, monkeypatch: pytest.MonkeyPatch) -> None:
    old = spare.take(1 * MiB)
    spare.put_back(old)
    monkeypatch.setattr(_memory_files, "SPARE_SECONDS", 0.0)
    fresh = spare.take(1 * MiB)
    assert not spare.is_open(old) and spare.inodes[fresh] != spare.inodes[old]
    spare.put_back(fresh)
    spare.put_back(spare.take(2 * MiB))  # a put_back lets stale files go too
    assert not spare.is_open(fresh)


def test_no_two_threads_ever_hold_the_same_file(spare: Stock) -> None:
    holders: dict[int, int | None] = {}  # each file's inode: the thread that holds it
    lock, clashes = threading.Lock(), []
    start = threading.Barrier(8)

    def use_files(me: int) -> None:
        start.wait()
        for n in range(300):
            file = spare.take(MiB * (1 + (me + n) % 3))
            with lock:
                if holders.get(inode(file)) is not None:
                    clashes.append(inode(file))
                holders[inode(file)] = me
            file.write_at(memoryview(me.to_bytes(8, "big")), 0)
            if os.pread(file.fd, 8, 0) != me.to_bytes(8, "big"):
                clashes.append(inode(file))
            with lock:
                holders[inode(file)] = None
            spare.put_back(file)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=use_files, args=(me,)) for me in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert clashes == []
    assert len(holders) <= 8  # a new file only when every spare one is lent out


def test_a_forked_child_writes_its_large_arguments_into_files_of_its_own(run_python: RunPython) -> None:
    proc = run_python(
        """
        import os
        from unsync import unsync

        @unsync(cpu_bound=True)
        def size(data):
            return len(data)

        def memory_files():
            found = set()
            for fd in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:"):
                        found.add(os.stat(f"/proc/self/fd/{fd}").st_ino)
                except FileNotFoundError:
                    pass
            return found

        if __name__ == "__main__":
            data = os.urandom(4 * 1024 * 1024)
            size(data).result(timeout=30)
            ours = memory_files()  # the spare file, kept for the next call
            child = os.fork()
            if child == 0:
                assert memory_files() == set(), "the child let go of the parent's spare files"
                size(data).result(timeout=30)
                assert memory_files().isdisjoint(ours)
                os._exit(0)
            _, status = os.waitpid(child, 0)
            print(os.waitstatus_to_exitcode(status), len(ours), size(data).result(timeout=30), memory_files() == ours)
        """
    )
    assert proc.stdout.split() == ["0", "1", str(4 * 1024 * 1024), "True"], proc.stderr
