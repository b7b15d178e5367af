"""trio's functions called in a coroutine that runs on the asyncio ambient loop."""

from __future__ import annotations

import pytest
import trio

from unsync import unsync


@unsync
async def sleep_with_trio() -> None:
    await trio.sleep(0.01)


@unsync
async def fail_the_same_way_without_trio() -> None:
    raise RuntimeError("must be called from async context")


def test_the_error_names_the_trio_backend_and_anyio() -> None:
    with pytest.raises(RuntimeError, match="must be called from async context") as caught:
        sleep_with_trio().result(timeout=10)
    (note,) = caught.value.__notes__
    assert 'unsync.use_backend("trio")' in note
    assert "anyio" in note


def test_the_same_message_raised_outside_trio_gets_no_note() -> None:
    with pytest.raises(RuntimeError) as caught:
        fail_the_same_way_without_trio().result(timeout=10)
    assert not hasattr(caught.value, "__notes__")
