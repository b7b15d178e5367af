"""cpu_bound work on a real Dask cluster (two worker processes on loopback)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import pytest
import trio

from scenarios.cpu_work import describe, double_the_result, fail_in_worker, sum_of_squares, worker_pid
from unsync import Unfuture, unsync

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[None]:
    """Every cpu_bound call in the module goes to a LocalCluster."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    )
    client = distributed.Client(cluster)
    default = unsync.process_executor
    unsync.process_executor = client.get_executor()
    try:
        yield
    finally:
        unsync.process_executor = default
        client.close()
        cluster.close()


@pytest.mark.usefixtures("dask_cluster")
def test_cpu_bound_calls_run_on_the_cluster_workers() -> None:
    pids = {worker_pid().result(timeout=60) for _ in range(6)}
    assert os.getpid() not in pids
    assert [f.result(timeout=60) for f in [sum_of_squares(n) for n in range(5)]] == [0, 0, 1, 5, 14]


@pytest.mark.usefixtures("dask_cluster")
def test_errors_await_and_then_through_the_cluster() -> None:
    with pytest.raises(KeyError, match="on the cluster"):
        fail_in_worker("on the cluster").result(timeout=60)

    async def awaiting() -> int:
        return await sum_of_squares(3)

    assert asyncio.run(awaiting()) == 5
    assert trio.run(awaiting) == 5
    assert Unfuture.from_value(21).then(double_the_result).result(timeout=60) == 42


@pytest.mark.usefixtures("dask_cluster")
def test_an_unpicklable_argument_fails_only_that_call() -> None:
    with pytest.raises(TypeError, match=r"argument 1 of describe\(\)"):
        describe(threading.Lock()).result(timeout=60)
    assert describe(1).result(timeout=60) == "int"
