"""Run inside the unsync 1.4.0 venv: one round of the same workloads, as JSON.

Usage: python unsync14_probe.py N_ROUND_TRIPS N_BURST N_MEMORY
"""

from __future__ import annotations

import asyncio
import json
import sys
import warnings

warnings.simplefilter("ignore")

from workloads import burst, memory_per_pending_call, return_at_once, return_at_once_sync, round_trip  # noqa: E402

from unsync import unsync  # noqa: E402  (1.4.0: the same import name as ours)

nop_async = unsync(return_at_once)
nop_thread = unsync(return_at_once_sync)


@unsync
async def sleeper() -> None:
    await asyncio.sleep(3600)


def main() -> None:
    n_rt, n_burst, n_mem = map(int, sys.argv[1:4])
    nop_async().result()
    nop_thread().result()
    results = {
        "async round trip": round_trip(nop_async)(n_rt) / n_rt * 1e6,
        "async burst": burst(nop_async)(n_burst) / n_burst * 1e6,
        "thread round trip": round_trip(nop_thread)(n_rt) / n_rt * 1e6,
        "thread burst": burst(nop_thread)(n_burst) / n_burst * 1e6,
    }
    if n_mem:

        def settle() -> None:
            nop_async().result()

        results["bytes per pending call"] = memory_per_pending_call(sleeper, settle, n_mem)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
