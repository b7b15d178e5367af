"""cpu_bound data: where arguments and results are pickled, and large buffers in shared memory."""

from __future__ import annotations

import concurrent.futures
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import unsync as unsync_module
from process_watching import is_running, pid_written_to, wait_until
from scenarios import cpu_work
from scenarios.cpu_work import (
    LARGE,
    BufferHolder,
    PicklingRecorder,
    describe,
    die_after_receiving,
    echo,
    fail_after_receiving,
    large_and_unpicklable,
    large_result_recording_its_unpickling,
    memory_file_inodes,
    memory_files_of,
    open_memory_files,
    recall,
    remember,
    spin_with,
    where_each_arrived,
)
from unsync import WorkerProcessDied, unsync

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="large buffers travel in memory files on Linux")


def shared_memory_of_ours() -> list[str]:
    # Other programs on the machine use /dev/shm too: only names of ours count.
    return [name for name in os.listdir("/dev/shm") if "unsync" in name] if os.path.isdir("/dev/shm") else []


@pytest.fixture
def no_memory_file_left() -> Iterator[None]:
    """After the test our idle worker holds no memory file; once the loop stops, neither do we.

    Until then we may keep the files of large arguments, spare for the next
    calls; any other would be a leak, which stopping the loop does not close.
    /dev/shm holds none of ours either.
    """
    yield
    assert open_memory_files().result(timeout=30) == []
    unsync_module.shutdown()
    # A call's result may be seen a moment before the thread that settled it has let go of its files.
    wait_until(lambda: memory_files_of(os.getpid()) == [], f"memory files left open: {memory_files_of(os.getpid())}")
    assert shared_memory_of_ours() == []


def test_arguments_are_pickled_in_the_callers_thread_not_on_the_ambient_loop() -> None:
    cpu_work.pickled_in.clear()
    assert describe(PicklingRecorder()).result(timeout=30) == "str"

    @unsync
    async def from_a_coroutine() -> str:
        return await describe(PicklingRecorder())

    assert from_a_coroutine().result(timeout=30) == "str"
    ambient = unsync_module.unsync.thread.name
    assert len(cpu_work.pickled_in) == 2
    assert cpu_work.pickled_in[0] == "MainThread"
    assert ambient not in cpu_work.pickled_in


def test_a_large_result_is_unpickled_off_the_ambient_loop() -> None:
    cpu_work.unpickled_in.clear()
    result = large_result_recording_its_unpickling().result(timeout=30)
    assert result == bytes(LARGE)
    assert len(cpu_work.unpickled_in) == 1
    assert cpu_work.unpickled_in[0] != unsync_module.unsync.thread.name


@linux_only
def test_large_buffers_arrive_whole_with_their_types(no_memory_file_left: None) -> None:
    data = os.urandom(LARGE)
    assert echo(data).result(timeout=30) == data
    assert type(echo(data).result(timeout=30)) is bytes
    assert echo(bytearray(data)).result(timeout=30) == bytearray(data)
    view = echo(memoryview(data)).result(timeout=30)
    assert isinstance(view, memoryview) and view == data
    assert where_each_arrived(data, bytearray(data), memoryview(data), small=b"x").result(timeout=30) == [
        "bytes",
        "bytearray",
        "memoryview",
        "bytes",
    ]


@linux_only
def test_a_large_buffer_offered_out_of_band_comes_back_mapped_not_copied(no_memory_file_left: None) -> None:
    # As a NumPy array offers its data: the result is backed by the mapping of the worker's memory file.
    large, small = echo([BufferHolder(bytearray(LARGE)), BufferHolder(bytearray(10))]).result(timeout=30)  # type: ignore[misc]
    assert type(memoryview(large.data).obj).__name__ == "mmap"
    assert type(memoryview(small.data).obj).__name__ == "bytearray"
    # The mapping is private: what we write goes nowhere else.
    memoryview(large.data)[:3] = b"abc"
    assert bytes(memoryview(large.data)[:4]) == b"abc\0"


@linux_only
def test_the_memory_file_of_large_arguments_is_reused_by_the_next_call(no_memory_file_left: None) -> None:
    echo(bytes(LARGE)).result(timeout=30)
    spare = memory_file_inodes()
    assert len(spare) == 1  # kept for the next call, which writes into the same pages
    data = os.urandom(LARGE)
    assert echo(data).result(timeout=30) == data  # written over the first call's pages, whole
    assert memory_file_inodes() == spare


@linux_only
def test_what_a_worker_keeps_of_its_arguments_stays_as_it_was_when_the_memory_file_is_reused(
    no_memory_file_left: None,
) -> None:
    # The parent writes the next call's arguments into the pages of the last
    # one's: had the worker kept a view of them, what it kept would change.
    limit = unsync_module.unsync.process_limit
    unsync_module.unsync.process_limit = 1  # one worker, which remembers every call
    try:
        first, second = [os.urandom(LARGE) for _ in range(2)]
        remember(BufferHolder(bytearray(first))).result(timeout=30)
        remember(first).result(timeout=30)
        remember(memoryview(bytearray(first))).result(timeout=30)
        remember(BufferHolder(bytearray(second))).result(timeout=30)
        remember(second).result(timeout=30)
        assert recall().result(timeout=30) == [first, first, first, second, second]
    finally:
        unsync_module.unsync.process_limit = limit


@linux_only
def test_no_memory_file_is_left_when_the_call_fails(no_memory_file_left: None) -> None:
    with pytest.raises(ValueError, match=f"refused {LARGE} bytes"):
        fail_after_receiving(bytes(LARGE)).result(timeout=30)


@linux_only
def test_no_memory_file_is_left_when_the_worker_dies(no_memory_file_left: None) -> None:
    with pytest.raises(WorkerProcessDied):
        die_after_receiving(bytes(LARGE)).result(timeout=30)


@linux_only
def test_no_memory_file_is_left_when_a_running_call_is_cancelled(no_memory_file_left: None, tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    running = spin_with(bytes(LARGE), str(pid_file))
    pid = pid_written_to(pid_file)
    assert running.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        running.result(timeout=10)
    wait_until(lambda: not is_running(pid), "the worker was not terminated")


@linux_only
def test_no_memory_file_is_left_when_a_waiting_call_is_cancelled(no_memory_file_left: None, tmp_path: Path) -> None:
    limit = unsync_module.unsync.process_limit
    unsync_module.unsync.process_limit = 1
    try:
        pid_file = tmp_path / "worker.pid"
        running = spin_with(b"", str(pid_file))
        pid_written_to(pid_file)
        waiting = echo(bytes(LARGE))  # pickled into its memory file, then waits for the worker
        assert waiting.cancel()
        assert running.cancel()
        with pytest.raises(concurrent.futures.CancelledError):
            waiting.result(timeout=10)
    finally:
        unsync_module.unsync.process_limit = limit


@linux_only
def test_no_memory_file_is_left_when_the_result_cannot_be_sent(no_memory_file_left: None) -> None:
    with pytest.raises(TypeError, match=r"result of large_and_unpicklable\(\)"):
        large_and_unpicklable().result(timeout=30)
