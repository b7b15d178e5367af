"""What the process pool shows when printed, on the ambient loop of either backend."""

from __future__ import annotations

import time
from pathlib import Path

from scenarios.cpu_work import spin_forever, worker_pid
from unsync import ProcessWorkers, unsync


def test_the_process_pool_shows_its_limit_its_calls_and_whether_it_is_shut_down(tmp_path: Path) -> None:
    pool = ProcessWorkers(max_workers=1)
    assert repr(pool) == "<ProcessWorkers max_workers=1 running=0 waiting=0>"
    default = unsync.process_executor
    unsync.process_executor = pool
    try:
        pid_file = tmp_path / "pid"
        spinning = spin_forever(str(pid_file))
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.01)
        queued = worker_pid()
        assert repr(pool) == "<ProcessWorkers max_workers=1 running=1 waiting=1>"
        spinning.cancel()
        queued.result(timeout=30)
    finally:
        unsync.process_executor = default
    pool.shutdown()
    assert repr(pool) == "<ProcessWorkers max_workers=1 running=0 waiting=0 shut down>"
