"""On trio, calls run in reusable tasks; reuse must not let idle tasks pile up."""

from __future__ import annotations

import anyio
import trio

from scenarios.awaiting import make_cancellable
from unsync import unsync


@unsync
async def rest(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "rested"


@unsync
async def tasks_beside_this_one() -> int:
    nursery = trio.lowlevel.current_task().parent_nursery
    assert nursery is not None
    return len(nursery.child_tasks) - 1


def test_after_a_burst_only_a_bounded_number_of_idle_tasks_stay() -> None:
    burst = [rest(0.2) for _ in range(300)]
    assert tasks_beside_this_one().result(timeout=5) >= 299  # the burst ran concurrently
    assert [call.result(timeout=5) for call in burst] == ["rested"] * 300
    assert tasks_beside_this_one().result(timeout=5) <= 64


def test_a_call_cancelled_once_the_most_idle_tasks_wait_leaves_no_extra_task() -> None:
    # The cancelled call's task is the one too many: it ends rather than wait idle.
    started, cleaned_up, doomed = make_cancellable()
    assert started.wait(5)
    burst = [rest(0.2) for _ in range(64)]
    assert [call.result(timeout=5) for call in burst] == ["rested"] * 64
    assert doomed.cancel() and cleaned_up.wait(5)
    assert tasks_beside_this_one().result(timeout=5) <= 64
    assert rest(0).result(timeout=5) == "rested"


def test_sequential_calls_reuse_one_task() -> None:
    @unsync
    async def which_task() -> trio.lowlevel.Task:
        return trio.lowlevel.current_task()

    # Each result keeps its task alive, so distinct tasks could not look alike.
    tasks = [which_task().result(timeout=5) for _ in range(20)]
    assert all(task is tasks[0] for task in tasks)
    assert tasks[0].name == "unsync runner"
