"""Every test in this folder runs with the ambient loop on asyncio."""

from collections.abc import Iterator

import pytest

import unsync


@pytest.fixture(autouse=True, scope="module")
def asyncio_ambient_loop() -> Iterator[None]:
    unsync.shutdown()
    unsync.use_backend("asyncio")
    yield
    unsync.shutdown()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
