"""Messages with large buffers, through a real memory file: what the receiver gets, and when it may keep a view."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="large buffers travel in memory files on Linux")

from scenarios.cpu_work import LARGE, BufferHolder, memory_file_inodes  # noqa: E402
from unsync import _wire  # noqa: E402
from unsync._memory_files import SpareMemoryFiles  # noqa: E402
from unsync._wire import Message, out_of_band  # noqa: E402


@pytest.fixture(autouse=True)
def no_memory_file_left() -> Iterator[None]:
    before = memory_file_inodes()
    yield
    assert memory_file_inodes() == before


def received(sent: Message) -> Message:
    """The message as the other process gets it: the header read back, and its own descriptor of the file."""
    assert sent.file is not None
    length, count, lent = _wire.parse_header(sent.header()[: _wire.HEADER.size])
    buffers = _wire.buffers_from(sent.header()[_wire.HEADER.size :])
    assert (length, count) == (len(sent.payload), len(sent.buffers))
    return Message(sent.payload, buffers, os.dup(sent.file), lent=lent)


def backing(value: Any) -> str:
    """What a received buffer is backed by."""
    return type(memoryview(value).obj).__name__


def arguments() -> tuple[bytes, bytearray, memoryview, BufferHolder]:
    return (
        os.urandom(LARGE),
        bytearray(os.urandom(LARGE)),
        memoryview(bytearray(os.urandom(LARGE))),
        BufferHolder(bytearray(os.urandom(LARGE))),
    )


def pickled_as_sent(values: tuple[Any, ...], spare: SpareMemoryFiles | None = None) -> Message:
    return Message.pack(tuple(map(out_of_band, values)), lend_from=spare)


def test_a_lent_file_is_copied_out_so_that_the_sender_may_write_into_it_again() -> None:
    spare = SpareMemoryFiles()
    values = arguments()
    sent = pickled_as_sent(values, spare)
    assert sent.lent and len(sent.buffers) == 4
    data, mutable, view, holder = received(sent).unpack()
    assert (type(data), type(mutable), type(view)) == (bytes, bytearray, memoryview)
    assert (backing(view), backing(holder.data)) == ("bytearray", "bytearray")
    assert sent.file is not None
    lent_file = os.fstat(sent.file).st_ino
    sent.give_back()
    # The next message goes into the same pages: what was received stays as it was.
    again = pickled_as_sent(tuple(bytes(LARGE) for _ in values), spare)
    assert again.file is not None and os.fstat(again.file).st_ino == lent_file
    assert (data, mutable, bytes(view), bytes(holder.data)) == tuple(bytes(memoryview(v)) for v in _datas(values))
    again.close()
    spare.clear()


def _datas(values: tuple[Any, ...]) -> list[Any]:
    return [getattr(value, "data", value) for value in values]


def test_a_fresh_file_is_mapped_for_writable_buffers_and_read_for_read_only_ones() -> None:
    values = arguments()
    sent = pickled_as_sent(values)
    assert not sent.lent
    data, mutable, view, holder = received(sent).unpack()
    assert type(data) is bytes and backing(holder.data) == "mmap" and backing(view) == "mmap"
    assert type(mutable) is bytearray
    assert [bytes(memoryview(v)) for v in (data, mutable, view, holder.data)] == [
        bytes(memoryview(v)) for v in _datas(values)
    ]
    sent.close()


def test_buffers_larger_than_one_read_arrive_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # Linux moves at most about 2 GiB in one read: larger buffers are read in
    # parts, or (read-only ones) copied from a mapping.  Shown here with parts of 4 KiB.
    monkeypatch.setattr(_wire, "_LARGEST_READ", 4096)
    spare = SpareMemoryFiles()
    values = arguments()
    sent = pickled_as_sent(values, spare)
    data, mutable, view, holder = received(sent).unpack()
    assert type(data) is bytes and type(mutable) is bytearray and backing(holder.data) == "bytearray"
    assert [bytes(memoryview(v)) for v in (data, mutable, view, holder.data)] == [
        bytes(memoryview(v)) for v in _datas(values)
    ]
    sent.close()
    spare.clear()


@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_a_memory_file_shorter_than_its_message_says_is_refused(kind: type[bytes] | type[bytearray]) -> None:
    sent = pickled_as_sent((kind(LARGE),), SpareMemoryFiles())
    arriving = received(sent)
    assert arriving.file is not None
    os.ftruncate(arriving.file, LARGE // 2)
    with pytest.raises(ConnectionError, match="shorter than its message says"):
        arriving.unpack()
    assert arriving.file is None  # closed all the same
    sent.close()
