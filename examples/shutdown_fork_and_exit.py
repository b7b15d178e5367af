"""Explicit shutdown, a fork, and exit with tasks still sleeping."""

import os
import threading
import warnings

import anyio
from _backend import choose_backend

import unsync
from unsync import unsync as run_unsynced


@run_unsynced
async def loop_thread() -> threading.Thread:
    return threading.current_thread()


@run_unsynced
async def sleeps_forever() -> None:
    try:
        await anyio.sleep(3600)
    finally:
        print("cleanup at exit", flush=True)


if __name__ == "__main__":
    choose_backend()
    first = loop_thread().result()
    unsync.shutdown()
    print("fresh loop after shutdown", loop_thread().result() is not first)
    if hasattr(os, "fork"):
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
        if pid == 0:
            os._exit(0 if loop_thread().result(timeout=10) else 1)
        print("child worked", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0)
    sleeps_forever()
    print("exiting with a task still asleep", flush=True)
