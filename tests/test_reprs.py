"""What the decorator and the thread pool show when printed or inspected in a debugger."""

from __future__ import annotations

import threading

from unsync import Limiter, ThreadWorkers, unsync


def test_the_decorator_shows_its_options() -> None:
    assert repr(unsync) == "unsync"
    assert repr(unsync(cpu_bound=True)) == "unsync(cpu_bound=True)"
    assert repr(unsync(limit=3)) == "unsync(limit=3)"
    shared = Limiter(2)
    assert repr(unsync(cpu_bound=True, limit=shared)) == f"unsync(cpu_bound=True, limit={shared!r})"


def test_the_thread_pool_shows_its_limit_its_threads_and_whether_it_is_shut_down() -> None:
    pool = ThreadWorkers(max_workers=2)
    assert repr(pool) == "<ThreadWorkers max_workers=2 threads=0 idle=0 queued=0>"
    release = threading.Event()
    running = [pool.submit(release.wait, 10) for _ in range(3)]
    assert repr(pool) == "<ThreadWorkers max_workers=2 threads=2 idle=0 queued=1>"
    release.set()
    for call in running:
        call.result(timeout=10)
    pool.shutdown(wait=True)
    assert repr(pool).endswith(" shut down>")
    assert "threads=0" in repr(pool)
