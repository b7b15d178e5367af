"""Timeouts when blocking, cancelling running coroutines, and their cleanup."""

import concurrent.futures
import threading

import anyio
from _backend import choose_backend

from unsync import unsync

cleaned = threading.Event()


@unsync
async def long_job() -> str:
    try:
        await anyio.sleep(3600)
        return "finished"
    finally:
        cleaned.set()


if __name__ == "__main__":
    choose_backend()
    job = long_job()
    try:
        job.result(timeout=0.1)
    except TimeoutError:
        print("result() timed out; the job goes on")
    print("cancel requested", job.cancel())
    try:
        job.result()
    except concurrent.futures.CancelledError:
        print("cancelled, cleanup ran:", cleaned.wait(5))
