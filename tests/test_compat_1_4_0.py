"""Programs written for unsync 1.4.0, each in a fresh interpreter (imports, loop life, exit)."""

from __future__ import annotations

from conftest import RunPython


def test_importing_the_submodule_first_keeps_the_decorator(run_python: RunPython) -> None:
    proc = run_python(
        """
        import unsync.unsync
        from unsync.unsync import Unfuture, unsync as decorator
        import unsync as package

        @unsync.unsync
        def double(x):
            return 2 * x

        assert package.unsync is decorator is unsync.unsync
        assert isinstance(double(4), Unfuture)
        print(double(4).result())
        """
    )
    assert proc.stdout.split() == ["8"]


def test_importing_the_submodule_later_keeps_the_decorator(run_python: RunPython) -> None:
    proc = run_python(
        """
        import unsync
        from unsync import unsync as decorator
        import unsync.unsync
        import importlib
        importlib.import_module("unsync.unsync")

        print(unsync.unsync is decorator, type(unsync.unsync).__name__)
        """
    )
    assert proc.stdout.split() == ["True", "Unsync"]


# A 1.4.0 test fixture: it stops the ambient loop from outside when a test ends.
STOP_LIKE_A_FIXTURE = """
import asyncio
from unsync import unsync

@unsync
async def answer():
    await asyncio.sleep(0)
    return 42

def run_one_test():
    assert answer().result(timeout=10) == 42
    # teardown, as 1.4.0 fixtures wrote it
    loop_thread = unsync.thread
    unsync.loop.call_soon_threadsafe(unsync.loop.stop)
    loop_thread.join(timeout=10)
    assert not loop_thread.is_alive()
"""


def test_a_loop_stopped_from_outside_is_replaced_by_the_next_call(run_python: RunPython) -> None:
    proc = run_python(
        STOP_LIKE_A_FIXTURE
        + """
first_loop = unsync.loop
run_one_test()
run_one_test()
assert answer().result(timeout=10) == 42
print(unsync.loop is not first_loop, unsync.loop.is_running())
"""
    )
    assert proc.stdout.split() == ["True", "True"]
    assert proc.stderr == ""


def test_calls_racing_with_a_stop_from_outside_end_and_later_calls_run(run_python: RunPython) -> None:
    proc = run_python(
        STOP_LIKE_A_FIXTURE
        + """
import concurrent.futures

outcomes = set()
for _ in range(30):
    unsync.loop.call_soon_threadsafe(unsync.loop.stop)
    racing = answer()  # made while the loop may be stopping
    try:
        outcomes.add(racing.result(timeout=10))
    except concurrent.futures.CancelledError:  # it had started on the stopped loop
        outcomes.add("cancelled")
    except RuntimeError as error:  # it never started
        assert "did not run" in str(error) and "unsync.shutdown()" in str(error), error
        outcomes.add("did not run")
assert outcomes <= {42, "cancelled", "did not run"}, outcomes
assert answer().result(timeout=10) == 42
print("ok")
""",
        timeout=120,
    )
    assert proc.stdout.split() == ["ok"]
    assert proc.stderr == ""


def test_calls_made_by_a_task_that_stops_the_loop_end_cancelled_or_saying_they_did_not_run(
    run_python: RunPython,
) -> None:
    # The loop stops at the end of the task's step: the calls it made never take their first.
    proc = run_python(
        STOP_LIKE_A_FIXTURE
        + """
import concurrent.futures
from unsync import Unfuture

@unsync
async def sleeper():
    await asyncio.sleep(3600)

async def follow_up(done):
    return done.result()

@unsync
async def stop_the_loop_as_it_makes_calls():
    running = sleeper()  # running from the moment it is made
    continuation = Unfuture.from_value(0).then(follow_up)  # would start in its task's first step
    asyncio.get_running_loop().stop()
    return running, continuation

loop_thread = unsync.thread
running, continuation = stop_the_loop_as_it_makes_calls().result(timeout=10)
loop_thread.join(10)
try:
    running.result(timeout=10)
except concurrent.futures.CancelledError:
    print("running: cancelled")
try:
    continuation.result(timeout=10)
except RuntimeError as error:
    print("continuation:", "did not run" in str(error) and "unsync.shutdown()" in str(error))
print(answer().result(timeout=10))
"""
    )
    assert proc.stdout.splitlines() == ["running: cancelled", "continuation: True", "42"]
    assert proc.stderr == ""


def test_exit_after_the_loop_was_stopped_from_outside_prints_nothing(run_python: RunPython) -> None:
    proc = run_python(STOP_LIKE_A_FIXTURE + "run_one_test()\n")
    assert proc.stderr == ""


def test_shutdown_after_the_loop_was_stopped_from_outside(run_python: RunPython) -> None:
    proc = run_python(
        STOP_LIKE_A_FIXTURE
        + """
run_one_test()
unsync.shutdown()
assert answer().result(timeout=10) == 42
unsync.shutdown()
print("ok")
"""
    )
    assert proc.stdout.split() == ["ok"]
    assert proc.stderr == ""


def test_cpu_bound_workers_do_not_see_globals_assigned_under_the_main_guard(run_python: RunPython) -> None:
    proc = run_python(
        """
        from unsync import unsync

        @unsync(cpu_bound=True)
        def scale(x):
            return x * FACTOR

        if __name__ == "__main__":
            FACTOR = 3
            try:
                scale(2).result(timeout=60)
            except NameError as error:
                print("NameError:", error)
        """,
        timeout=90,
    )
    assert proc.stdout.strip() == "NameError: name 'FACTOR' is not defined"


def test_the_migration_guide_fix_for_globals_under_the_main_guard(run_python: RunPython) -> None:
    proc = run_python(
        """
        from unsync import unsync

        FACTOR = 3

        @unsync(cpu_bound=True)
        def scale(x, factor=FACTOR):
            return x * factor

        if __name__ == "__main__":
            print(scale(2).result(timeout=60), scale(2, factor=4).result(timeout=60))
        """,
        timeout=90,
    )
    assert proc.stdout.split() == ["6", "8"]
