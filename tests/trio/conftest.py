"""Every test in this folder runs with the ambient loop on trio."""

from collections.abc import Iterator

import pytest

import unsync


@pytest.fixture(autouse=True, scope="module")
def trio_ambient_loop() -> Iterator[None]:
    unsync.shutdown()
    unsync.use_backend("trio")
    yield
    unsync.shutdown()
    unsync.use_backend("asyncio")


@pytest.fixture
def anyio_backend() -> str:
    return "trio"
