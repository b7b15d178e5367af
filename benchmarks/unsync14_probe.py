"""Run inside the unsync 1.4.0 venv: one round of the same workloads, as JSON.

Usage: python unsync14_probe.py N_ROUND_TRIPS N_BURST N_PROCESS [N_IN_FLIGHT ...]

With N_IN_FLIGHT sizes, it also measures memory per pending call at each.
"""

from __future__ import annotations

import asyncio
import json
import sys
import warnings

warnings.simplefilter("ignore")

from workloads import (  # noqa: E402
    burst,
    memory_per_pending_call,
    pending_calls_row,
    return_at_once,
    return_at_once_sync,
    round_trip,
)

from unsync import unsync  # noqa: E402  (1.4.0: the same import name as ours)

nop_async = unsync(return_at_once)
nop_thread = unsync(return_at_once_sync)


@unsync(cpu_bound=True)
def nop_process() -> int:
    return 1


@unsync
async def sleeper() -> None:
    await asyncio.sleep(3600)


def main() -> None:
    n_rt, n_burst, n_process, *in_flight = map(int, sys.argv[1:])
    nop_async().result()
    nop_thread().result()
    burst(nop_process)(4)  # start the worker processes before timing
    results = {
        "async round trip": round_trip(nop_async)(n_rt) / n_rt * 1e6,
        "async burst": burst(nop_async)(n_burst) / n_burst * 1e6,
        "thread round trip": round_trip(nop_thread)(n_rt) / n_rt * 1e6,
        "thread burst": burst(nop_thread)(n_burst) / n_burst * 1e6,
        "process round trip": round_trip(nop_process)(n_process) / n_process * 1e6,
        "process burst": burst(nop_process)(n_process) / n_process * 1e6,
    }

    def settle() -> None:
        nop_async().result()

    for n in in_flight:
        results[pending_calls_row(n)] = memory_per_pending_call(sleeper, settle, n)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
