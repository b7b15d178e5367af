"""What the process pool shows when printed, on the ambient loop of either backend."""

from __future__ import annotations

from scenarios.cpu_work import worker_pid
from unsync import ProcessWorkers, unsync


def test_the_process_pool_shows_its_limit_and_its_processes() -> None:
    pool = ProcessWorkers(max_workers=3)
    assert repr(pool) == "<ProcessWorkers max_workers=3 processes=0 idle=0>"
    default = unsync.process_executor
    unsync.process_executor = pool
    try:
        worker_pid().result(timeout=30)
        assert repr(pool) == "<ProcessWorkers max_workers=3 processes=1 idle=1>"
    finally:
        unsync.process_executor = default
        unsync.shutdown()  # stops the pool's workers with the loop
    assert repr(pool) == "<ProcessWorkers max_workers=3 processes=0 idle=0>"
